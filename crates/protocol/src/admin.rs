//! People and structure: teams (pods), users, children, allocations, referrals, devices,
//! access outside allocation and the audit log. Messages of `/v1/admin/*`, `/v1/children/*`
//! and friends. Times are RFC 3339 in UTC; dates are `YYYY-MM-DD`.

use serde::{Deserialize, Serialize};

pub use fieldnotes_vocab::Timestamp;

use crate::auth::{Role, UserInfo};

/// A team (pod) (also the store's record of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Team {
    pub team_id: String,
    pub name: String,
    /// When true, every social worker in the team can read (not write) the team's cases.
    pub pod_read_access: bool,
    /// Most points a short plan may have before it goes to review.
    #[serde(default = "default_plan_points")]
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "i64"))]
    pub plan_point_limit: u32,
}

fn default_plan_points() -> u32 {
    3
}

/// `POST /v1/admin/teams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub team_id: String,
    pub name: String,
    #[serde(default)]
    pub pod_read_access: bool,
    /// Most points a short plan may have before it goes to review (3 if left out).
    #[serde(default)]
    pub plan_point_limit: Option<u32>,
}

/// `PATCH /v1/admin/teams/{id}`: fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_read_access: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_point_limit: Option<u32>,
}

/// A person who can sign in: who they are (the same fields, in the same places on the wire, as
/// the [`UserInfo`] a sign-in answers with) and how they sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    #[serde(flatten)]
    pub info: UserInfo,
    /// False once the person has left: they can no longer sign in.
    pub active: bool,
    /// The `sub` of this person's tokens from the identity provider, if they sign in that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_subject: Option<String>,
    /// Whether a password is set.
    pub has_password: bool,
}

/// `POST /v1/admin/users`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Defaults to the username.
    #[serde(default)]
    pub user_id: Option<String>,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    #[serde(default)]
    pub team_id: Option<String>,
    /// At least 10 characters. Leave out for people who sign in through the identity provider.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub external_subject: Option<String>,
}

/// `PATCH /v1/admin/users/{id}`: fields left out stay as they are.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// `Some(None)` (JSON `null`) takes the person out of any team.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub team_id: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_subject: Option<Option<String>>,
}

/// A child or young person (also the store's record of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Child {
    pub child_id: String,
    pub display_name: String,
    pub team_id: String,
    /// The social worker the child is allocated to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_holder: Option<String>,
}

/// `POST /v1/children`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChild {
    pub child_id: String,
    pub display_name: String,
    pub team_id: String,
}

/// `POST /v1/children/{id}/allocation`: allocate the child to a social worker (ending any
/// current allocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocate {
    pub worker_id: String,
}

/// One allocation of a child to a case holder, current or past (also the store's record of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Allocation {
    pub child_id: String,
    pub worker_id: String,
    pub started_at: Timestamp,
    pub allocated_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
}

/// `GET /v1/children/{id}/allocations`: the allocation history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationHistory {
    pub child_id: String,
    /// How many different social workers the child has had.
    pub distinct_workers: u32,
    pub allocations: Vec<Allocation>,
}

/// `POST /v1/children/{id}/referrals`: the case holder asks a youth worker to work with the
/// young person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReferral {
    pub youth_worker_id: String,
    /// First day of the involvement; today if left out.
    #[serde(default)]
    pub starts_on: Option<String>,
    /// The planned ending.
    pub planned_end: String,
}

/// A youth worker's involvement with a young person (also the store's record of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Referral {
    pub referral_id: i64,
    pub child_id: String,
    pub youth_worker_id: String,
    pub referred_by: String,
    /// `YYYY-MM-DD`.
    pub starts_on: String,
    /// `YYYY-MM-DD`.
    pub planned_end: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub device_id: String,
    pub user_id: String,
    pub name: String,
    pub actor_id: String,
    pub registered_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// Input from this device waiting for review (quarantined pushes).
    pub pending_review: u64,
}

/// `POST /v1/children/{id}/access`: open a child outside one's allocation, on the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    /// Why (for example "duty: covering for Sam, call from school"). Required.
    pub reason: String,
    /// How long, in minutes; 120 if left out, at most 720.
    #[serde(default)]
    pub minutes: Option<u32>,
}

/// Time-limited access to a child outside allocation (also the store's record of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct AccessGrant {
    pub grant_id: i64,
    pub user_id: String,
    pub child_id: String,
    pub reason: String,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
}

/// One entry of the append-only audit log (also the store's record of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    /// Who did it (absent for the server itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// `allocate`, `refer`, `revoke_device`, `access_outside_allocation`, ...
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    /// Facts of the action, as JSON.
    #[serde(default)]
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "crate::sql::JsonText"))]
    pub details: serde_json::Value,
}

/// `GET /v1/admin/users?team=ID`: everyone, or one team's people.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    /// Only the people of this team.
    #[cfg_attr(feature = "clap", arg(long, value_name = "ID"))]
    pub team: Option<String>,
}

/// `GET /v1/admin/devices?user=ID`: every device, or one person's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct DevicesQuery {
    /// Only this person's devices.
    #[cfg_attr(feature = "clap", arg(long, value_name = "ID"))]
    pub user: Option<String>,
}

/// `GET /v1/access-grants?active=true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct GrantsQuery {
    /// Only grants still running.
    #[serde(default)]
    #[cfg_attr(feature = "clap", arg(long))]
    pub active: bool,
}

/// `GET /v1/audit?child=ID&user=ID&after=N&limit=N`; `None` leaves a filter out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this child.
    #[cfg_attr(feature = "clap", arg(long, value_name = "ID"))]
    pub child: Option<String>,
    /// Only entries by this person.
    #[cfg_attr(feature = "clap", arg(long, value_name = "ID"))]
    pub user: Option<String>,
    /// Only entries after this id (the last id of the previous page).
    #[cfg_attr(feature = "clap", arg(long, value_name = "ID"))]
    pub after: Option<i64>,
    /// At most this many entries (1 to 1000) [default: 100].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub limit: Option<u32>,
}

/// `GET /v1/quarantine?after=ID&limit=N`: refused input, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct QuarantineQuery {
    /// Only entries after this id (the last id of the previous page).
    #[cfg_attr(feature = "clap", arg(long, value_name = "ID"))]
    pub after: Option<i64>,
    /// At most this many entries (1 to 1000) [default: 100].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub limit: Option<u32>,
}

/// A list of items, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
}

impl<T> FromIterator<T> for Listing<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Listing {
            items: iter.into_iter().collect(),
        }
    }
}

impl std::fmt::Debug for NewUser {
    // The password is a secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("team_id", &self.team_id)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("external_subject", &self.external_subject)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatch")
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("team_id", &self.team_id)
            .field("active", &self.active)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("external_subject", &self.external_subject)
            .finish()
    }
}

/// `null` in JSON as `Some(None)`, absence as `None`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
