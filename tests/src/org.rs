//! People and structure for tests: teams, workers, children, allocations and referrals written
//! straight to the store (as an admin would through the API), and devices that sign in over
//! HTTP like the real SDK does.
//!
//! Passwords are hashed with deliberately cheap Argon2 parameters: a hash carries its
//! parameters, so the server verifies them as they are, and tests stay quick. Production
//! hashes use the crate defaults.

use anyhow::Context;
use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Params, Version};
use fieldnotes_protocol::Role;
use fieldnotes_store::Store;
use fieldnotes_store::directory::{Actor, NewChild, Team, UserInfo, UserRecord};

/// Every test person's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// The team most tests use.
pub const TEAM: &str = "pod-1";

/// An Argon2id hash of `password` with tiny parameters (tests only).
pub fn cheap_hash(password: &str) -> anyhow::Result<String> {
    let params = Params::new(64, 1, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))
}

/// Who the harness's directory writes are by: "test-setup", now (as an admin would, now).
pub fn setup_actor() -> Actor {
    Actor {
        user_id: Some("test-setup".to_owned()),
        device_id: None,
        at_ms: now_ms(),
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The standard organisation ([`Org::standard`], with `children` children) written straight
/// into the database at `database_url`, before any server runs on it.
pub async fn seed_standard(database_url: &str, children: usize) -> anyhow::Result<()> {
    let store = fieldnotes_store::open(database_url).await?;
    Org::new(&*store).standard(children).await
}

/// The record of a test person: active, password [`PASSWORD`] (cheaply hashed), username
/// the user id.
fn user_record(user_id: &str, role: Role, team: Option<&str>) -> anyhow::Result<UserRecord> {
    Ok(UserRecord {
        info: UserInfo {
            user_id: user_id.to_owned(),
            username: user_id.to_owned(),
            display_name: format!("{user_id} (test)"),
            role,
            team_id: team.map(str::to_owned),
        },
        password_hash: Some(cheap_hash(PASSWORD)?),
        external_subject: None,
        active: true,
        created_at_ms: now_ms(),
    })
}

/// Writes people and structure into a store.
#[derive(Debug, Clone, Copy)]
pub struct Org<'a> {
    pub store: &'a dyn Store,
}

impl<'a> Org<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        Org { store }
    }

    pub async fn team(&self, team_id: &str, pod_read_access: bool) -> anyhow::Result<()> {
        let team = Team {
            team_id: team_id.to_owned(),
            name: format!("Team {team_id}"),
            pod_read_access,
            plan_point_limit: 3,
        };
        self.store
            .create_team(&team, &setup_actor())
            .await
            .with_context(|| format!("creating team {team_id}"))
    }

    /// A person with [`PASSWORD`]; the username is the user id.
    pub async fn person(
        &self,
        user_id: &str,
        role: Role,
        team: Option<&str>,
    ) -> anyhow::Result<()> {
        let user = user_record(user_id, role, team)?;
        self.store
            .create_user(&user, &setup_actor())
            .await
            .with_context(|| format!("creating {user_id}"))
    }

    pub async fn child(&self, child_id: &str, team: &str) -> anyhow::Result<()> {
        let child = NewChild {
            child_id: child_id.to_owned(),
            display_name: format!("Child {child_id}"),
            team_id: team.to_owned(),
        };
        self.store
            .create_child(&child, &setup_actor())
            .await
            .with_context(|| format!("creating child {child_id}"))
    }

    pub async fn allocate(&self, child_id: &str, worker_id: &str) -> anyhow::Result<()> {
        self.store
            .allocate(child_id, worker_id, &setup_actor())
            .await
            .with_context(|| format!("allocating {child_id} to {worker_id}"))?;
        Ok(())
    }

    /// A child of `team` allocated to `worker_id`.
    pub async fn caseload(
        &self,
        child_id: &str,
        team: &str,
        worker_id: &str,
    ) -> anyhow::Result<()> {
        self.child(child_id, team).await?;
        self.allocate(child_id, worker_id).await
    }

    /// Team [`TEAM`] with a manager `mgr`, social workers `sw-a` and `sw-b`, youth worker
    /// `yw`, an admin `admin`, and children `child-00` to `child-{n-1}`, all allocated to
    /// `sw-a`.
    pub async fn standard(&self, children: usize) -> anyhow::Result<()> {
        self.team(TEAM, false).await?;
        self.person("admin", Role::Admin, None).await?;
        self.person("mgr", Role::Manager, Some(TEAM)).await?;
        self.person("sw-a", Role::SocialWorker, Some(TEAM)).await?;
        self.person("sw-b", Role::SocialWorker, Some(TEAM)).await?;
        self.person("yw", Role::YouthWorker, Some(TEAM)).await?;
        for i in 0..children {
            let child = format!("child-{i:02}");
            self.child(&child, TEAM).await?;
            self.allocate(&child, "sw-a").await?;
        }
        Ok(())
    }
}
