//! The simulated organisation: one team, its manager and social workers, its children and
//! who each is allocated to. Written straight into the store before the run (as an admin
//! would); allocations then change only through the manager's API calls. It is also the
//! oracle for the scope checks: who should hold what, worked out here independently of the
//! server's scope code.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Params, Version};
use fieldnotes_model::scope;
use fieldnotes_protocol::auth::Role;
use fieldnotes_store::Store;
use fieldnotes_store::directory::{Actor, NewChild, Team, UserInfo, UserRecord};

use crate::device::PASSWORD;
use crate::error::SimError;

pub(crate) const TEAM: &str = "pod-1";
pub(crate) const ADMIN: &str = "admin";
pub(crate) const MANAGER: &str = "mgr";

/// Who is in the team and which child each social worker holds.
#[derive(Debug, Clone)]
pub(crate) struct Org {
    pub pod_read_access: bool,
    /// The team's social workers.
    pub workers: Vec<String>,
    /// Each child, and the social worker it is allocated to.
    pub children: BTreeMap<String, Option<String>>,
}

impl Org {
    /// The keys `user` may read, which are the keys its devices hold in full.
    pub fn read_keys(&self, user: &str) -> BTreeSet<String> {
        let mut keys: BTreeSet<String> = self
            .workers
            .iter()
            .map(String::as_str)
            .chain([MANAGER])
            .map(scope::worker)
            .collect();
        for (child, worker) in &self.children {
            let mine = worker.as_deref() == Some(user);
            if user == MANAGER || mine || self.pod_read_access {
                keys.insert(scope::child(child));
            }
        }
        keys
    }

    /// Write the team, its people and children (each allocated) into `store`.
    pub async fn write(&self, store: &dyn Store) -> Result<(), SimError> {
        let by = Actor {
            user_id: Some("sim-setup".to_owned()),
            device_id: None,
            at_ms: 0,
        };
        let team = Team {
            team_id: TEAM.to_owned(),
            name: "Simulated pod".to_owned(),
            pod_read_access: self.pod_read_access,
            plan_point_limit: 3,
        };
        store.create_team(&team, &by).await?;
        store
            .create_user(&user(ADMIN, Role::Admin, None)?, &by)
            .await?;
        store
            .create_user(&user(MANAGER, Role::Manager, Some(TEAM))?, &by)
            .await?;
        for worker in &self.workers {
            store
                .create_user(&user(worker, Role::SocialWorker, Some(TEAM))?, &by)
                .await?;
        }
        for (child_id, worker) in &self.children {
            let child = NewChild {
                child_id: child_id.clone(),
                display_name: format!("Child {child_id}"),
                team_id: TEAM.to_owned(),
            };
            store.create_child(&child, &by).await?;
            if let Some(worker) = worker {
                store.allocate(child_id, worker, &by).await?;
            }
        }
        Ok(())
    }
}

fn user(user_id: &str, role: Role, team: Option<&str>) -> Result<UserRecord, SimError> {
    Ok(UserRecord {
        info: UserInfo {
            user_id: user_id.to_owned(),
            username: user_id.to_owned(),
            display_name: format!("{user_id} (simulated)"),
            role,
            team_id: team.map(str::to_owned),
        },
        password_hash: Some(password_hash()?),
        external_subject: None,
        active: true,
        created_at_ms: 0,
    })
}

/// [`PASSWORD`] hashed with deliberately cheap Argon2id parameters (a hash carries its
/// parameters, so the server verifies it as it is), once per process.
fn password_hash() -> Result<String, SimError> {
    static HASH: OnceLock<Result<String, String>> = OnceLock::new();
    HASH.get_or_init(|| {
        let params = Params::new(64, 1, 1, None).map_err(|e| e.to_string())?;
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(PASSWORD.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| SimError::Server(format!("hashing the simulated password: {e}")))
}
