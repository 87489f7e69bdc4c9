//! People, structure and access: teams, users, children, allocations, referrals, devices and
//! their sessions, access grants, the audit log and server secrets.
//!
//! Both backends run the same SQL here (`$1`-style parameters, which sqlx binds on SQLite too),
//! so [`Directory`] is implemented once, for [`SqlStore`] over either database, with one module
//! per concern. Every method that changes who may see what writes its audit entry in the same
//! transaction: the log can't miss an action that happened, nor record one that did not.

use async_trait::async_trait;

use crate::StoreError;
use crate::backend::{Backend, Record, Sql};
use crate::sql_store::SqlStore;

pub(crate) mod audit;
mod children;
mod devices;
mod grants;
mod people;
mod records;
mod scope;
mod teams;

pub use records::*;

/// People, structure and access. Implemented by both stores.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Add a team, created at the time of `by`.
    async fn create_team(&self, team: &Team, by: &Actor) -> Result<(), StoreError>;
    /// Change the fields `patch` gives.
    async fn update_team(
        &self,
        team_id: &str,
        patch: &TeamPatch,
        by: &Actor,
    ) -> Result<Team, StoreError>;
    async fn get_team(&self, team_id: &str) -> Result<Option<Team>, StoreError>;
    async fn list_teams(&self) -> Result<Vec<Team>, StoreError>;

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

    /// Add a child, created at the time of `by`.
    async fn create_child(&self, child: &NewChild, by: &Actor) -> Result<(), StoreError>;
    async fn get_child(&self, child_id: &str) -> Result<Option<Child>, StoreError>;
    async fn list_children(&self, team_id: Option<&str>) -> Result<Vec<Child>, StoreError>;

    /// Allocate a child to a worker, ending the current allocation. `Conflict` if the child is
    /// already allocated to that worker, or another allocation committed first.
    async fn allocate(
        &self,
        child_id: &str,
        worker_id: &str,
        by: &Actor,
    ) -> Result<Allocation, StoreError>;
    /// End the child's current allocation, leaving them unallocated.
    async fn end_allocation(&self, child_id: &str, by: &Actor) -> Result<Allocation, StoreError>;
    /// Every allocation of a child, oldest first.
    async fn allocation_history(&self, child_id: &str) -> Result<Vec<Allocation>, StoreError>;

    async fn create_referral(
        &self,
        referral: &NewReferral,
        by: &Actor,
    ) -> Result<Referral, StoreError>;
    async fn end_referral(&self, referral_id: i64, by: &Actor) -> Result<Referral, StoreError>;
    async fn get_referral(&self, referral_id: i64) -> Result<Option<Referral>, StoreError>;
    async fn list_referrals(
        &self,
        child_id: Option<&str>,
        youth_worker_id: Option<&str>,
    ) -> Result<Vec<Referral>, StoreError>;

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
    ) -> Result<AccessGrant, StoreError>;
    async fn list_grants(&self, filter: &GrantFilter) -> Result<Vec<AccessGrant>, StoreError>;

    async fn append_audit(&self, entry: &NewAudit, by: &Actor) -> Result<i64, StoreError>;
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;

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
        _ => StoreError::from(e),
    }
}

/// `SELECT columns FROM from rest`: a read of the directory.
fn select<'q, DB: Backend>(columns: &str, from: &str, rest: &str) -> Sql<'q, DB> {
    DB::sql(format!("SELECT {columns} FROM {from} {rest}"))
}

impl<DB: Backend> SqlStore<DB> {
    /// The first row `statement` selects, read on the reader.
    async fn read_optional<T: Record>(
        &self,
        statement: Sql<'_, DB>,
    ) -> Result<Option<T>, StoreError> {
        Ok(statement.fetch_optional(self.reader()).await?)
    }

    /// Every row `statement` selects, read on the reader.
    async fn read_all<T: Record>(&self, statement: Sql<'_, DB>) -> Result<Vec<T>, StoreError> {
        Ok(statement.fetch_all(self.reader()).await?)
    }
}

#[async_trait]
impl<DB: Backend> Directory for SqlStore<DB> {
    async fn create_team(&self, team: &Team, by: &Actor) -> Result<(), StoreError> {
        teams::create(self, team, by).await
    }

    async fn update_team(
        &self,
        team_id: &str,
        patch: &TeamPatch,
        by: &Actor,
    ) -> Result<Team, StoreError> {
        teams::update(self, team_id, patch, by).await
    }

    async fn get_team(&self, team_id: &str) -> Result<Option<Team>, StoreError> {
        self.read_optional(select(teams::TEAM_COLUMNS, "teams", "WHERE team_id = $1").bind(team_id))
            .await
    }

    async fn list_teams(&self) -> Result<Vec<Team>, StoreError> {
        self.read_all(select(teams::TEAM_COLUMNS, "teams", "ORDER BY team_id"))
            .await
    }

    async fn create_user(&self, user: &UserRecord, by: &Actor) -> Result<(), StoreError> {
        people::create(self, user, by).await
    }

    async fn update_user(
        &self,
        user_id: &str,
        update: &UserUpdate,
        by: &Actor,
    ) -> Result<UserRecord, StoreError> {
        people::update(self, user_id, update, by).await
    }

    async fn get_user(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read_optional(
            select(people::USER_COLUMNS, "users", "WHERE user_id = $1").bind(user_id),
        )
        .await
    }

    async fn get_user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let by_name = select(
            people::USER_COLUMNS,
            "users",
            "WHERE lower(username) = lower($1)",
        );
        self.read_optional(by_name.bind(username)).await
    }

    async fn get_user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read_optional(
            select(people::USER_COLUMNS, "users", "WHERE external_subject = $1").bind(subject),
        )
        .await
    }

    async fn list_users(&self, team_id: Option<&str>) -> Result<Vec<UserRecord>, StoreError> {
        let in_team = select(
            people::USER_COLUMNS,
            "users",
            "WHERE $1 IS NULL OR team_id = $1 ORDER BY user_id",
        );
        self.read_all(in_team.bind(team_id)).await
    }

    async fn count_admins(&self) -> Result<i64, StoreError> {
        people::count_admins(self).await
    }

    async fn create_child(&self, child: &NewChild, by: &Actor) -> Result<(), StoreError> {
        children::create(self, child, by).await
    }

    async fn get_child(&self, child_id: &str) -> Result<Option<Child>, StoreError> {
        self.read_optional(
            select(
                children::CHILD_COLUMNS,
                children::CHILDREN,
                "WHERE c.child_id = $1",
            )
            .bind(child_id),
        )
        .await
    }

    async fn list_children(&self, team_id: Option<&str>) -> Result<Vec<Child>, StoreError> {
        let in_team = select(
            children::CHILD_COLUMNS,
            children::CHILDREN,
            "WHERE $1 IS NULL OR c.team_id = $1 ORDER BY c.child_id",
        );
        self.read_all(in_team.bind(team_id)).await
    }

    async fn allocate(
        &self,
        child_id: &str,
        worker_id: &str,
        by: &Actor,
    ) -> Result<Allocation, StoreError> {
        children::allocate(self, child_id, worker_id, by).await
    }

    async fn end_allocation(&self, child_id: &str, by: &Actor) -> Result<Allocation, StoreError> {
        children::end_allocation(self, child_id, by).await
    }

    async fn allocation_history(&self, child_id: &str) -> Result<Vec<Allocation>, StoreError> {
        let of_child = select(
            children::ALLOCATION_COLUMNS,
            "allocations",
            "WHERE child_id = $1 ORDER BY allocation_id",
        );
        self.read_all(of_child.bind(child_id)).await
    }

    async fn create_referral(
        &self,
        referral: &NewReferral,
        by: &Actor,
    ) -> Result<Referral, StoreError> {
        children::refer(self, referral, by).await
    }

    async fn end_referral(&self, referral_id: i64, by: &Actor) -> Result<Referral, StoreError> {
        children::end_referral(self, referral_id, by).await
    }

    async fn get_referral(&self, referral_id: i64) -> Result<Option<Referral>, StoreError> {
        let by_id = select(
            children::REFERRAL_COLUMNS,
            "referrals",
            "WHERE referral_id = $1",
        );
        self.read_optional(by_id.bind(referral_id)).await
    }

    async fn list_referrals(
        &self,
        child_id: Option<&str>,
        youth_worker_id: Option<&str>,
    ) -> Result<Vec<Referral>, StoreError> {
        let matching = select(
            children::REFERRAL_COLUMNS,
            "referrals",
            "WHERE ($1 IS NULL OR child_id = $1) AND ($2 IS NULL OR youth_worker_id = $2)
             ORDER BY referral_id",
        );
        self.read_all(matching.bind(child_id).bind(youth_worker_id))
            .await
    }

    async fn register_device(
        &self,
        device: &NewDevice,
        at_ms: i64,
    ) -> Result<DeviceRecord, StoreError> {
        devices::register(self, device, at_ms).await
    }

    async fn get_device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.read_optional(devices::select_devices(false, "d.device_id = $1").bind(device_id))
            .await
    }

    async fn device_by_actor(&self, actor_id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.read_optional(devices::select_devices(false, "d.actor_id = $1").bind(actor_id))
            .await
    }

    async fn list_devices(&self, user_id: Option<&str>) -> Result<Vec<DeviceRecord>, StoreError> {
        let of_user = devices::select_devices(
            true,
            "$1 IS NULL OR d.user_id = $1 ORDER BY d.user_id, d.registered_at_ms",
        );
        self.read_all(of_user.bind(user_id)).await
    }

    async fn revoke_device(&self, device_id: &str, by: &Actor) -> Result<DeviceRecord, StoreError> {
        devices::revoke(self, device_id, by).await
    }

    async fn record_sync(
        &self,
        device_id: &str,
        entries: &[NewAudit],
        by: &Actor,
    ) -> Result<(), StoreError> {
        devices::record_sync(self, device_id, entries, by).await
    }

    async fn start_session(
        &self,
        device_id: &str,
        session_id: &str,
        token_hash: &str,
        at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        let token = devices::NewToken {
            token_hash,
            device_id,
            session_id,
            at_ms,
            expires_at_ms,
        };
        devices::start_session(self, &token).await
    }

    async fn rotate_refresh_retryable(
        &self,
        rotation: &RefreshRotation<'_>,
    ) -> Result<RefreshOutcome, StoreError> {
        devices::rotate(self, rotation).await
    }

    async fn end_session(&self, device_id: &str, at_ms: i64) -> Result<(), StoreError> {
        devices::end_session(self, device_id, at_ms).await
    }

    async fn create_grant(
        &self,
        user_id: &str,
        child_id: &str,
        reason: &str,
        expires_at_ms: i64,
        by: &Actor,
    ) -> Result<AccessGrant, StoreError> {
        let grant = grants::NewGrant {
            user_id,
            child_id,
            reason,
            expires_at_ms,
        };
        grants::create(self, grant, by).await
    }

    async fn list_grants(&self, filter: &GrantFilter) -> Result<Vec<AccessGrant>, StoreError> {
        grants::list(self, filter).await
    }

    async fn append_audit(&self, entry: &NewAudit, by: &Actor) -> Result<i64, StoreError> {
        audit::append(self, entry, by).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        audit::list(self, filter).await
    }

    async fn scope_facts(
        &self,
        user: &UserRecord,
        at_ms: i64,
        today: &str,
        grace_from_ms: i64,
    ) -> Result<ScopeFacts, StoreError> {
        let at = scope::FactsAt {
            at_ms,
            today,
            grace_from_ms,
        };
        scope::facts(self, user, at).await
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        scope::server_secret(self, name, candidate).await
    }
}
