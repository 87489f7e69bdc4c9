//! The server's people-and-structure API, typed: teams, people, children, allocations,
//! referrals, access outside allocation, devices, the audit log and the quarantine. Every call
//! needs a signed-in, unlocked client; the server decides what the person may do and its
//! refusals come back as [`ClientError::Server`] with the reason.

use fieldnotes_protocol::admin::{
    AccessGrant, AccessRequest, Allocate, Allocation, AllocationHistory, AuditEntry, Child, Device,
    Listing, NewChild, NewReferral, NewTeam, NewUser, Referral, Team, TeamPatch, User, UserPatch,
};
use fieldnotes_protocol::{QUARANTINE_PATH, QuarantineList};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Client, ClientError};

/// One path segment, percent-encoded: ids typed by a person must not change the path.
pub(crate) fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Filters for [`Client::audit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub child: Option<String>,
    pub user: Option<String>,
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

impl Client {
    /// An authenticated call (refreshing the access token when needed).
    pub(crate) async fn api<R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        json: Option<Vec<u8>>,
    ) -> Result<R, ClientError> {
        let mut session = self.authed_session().await?;
        let transport = session.transport.clone();
        session
            .call(|access| {
                let (transport, method, json) = (&transport, method.clone(), json.as_deref());
                async move { transport.send_json(method, path, json, &access).await }
            })
            .await
    }

    pub(crate) async fn get_items<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, ClientError> {
        Ok(self.api::<Listing<T>>(Method::GET, path, None).await?.items)
    }

    /// Add a team (admins).
    pub async fn create_team(&self, team: &NewTeam) -> Result<Team, ClientError> {
        self.api(Method::POST, "/v1/admin/teams", json(team)?).await
    }

    /// Every team (admins).
    pub async fn teams(&self) -> Result<Vec<Team>, ClientError> {
        self.get_items("/v1/admin/teams").await
    }

    /// Rename a team or change its pod-wide reading (admins).
    pub async fn update_team(&self, team_id: &str, patch: &TeamPatch) -> Result<Team, ClientError> {
        self.api(
            Method::PATCH,
            &format!("/v1/admin/teams/{}", seg(team_id)),
            json(patch)?,
        )
        .await
    }

    /// Add a person (admins).
    pub async fn create_user(&self, user: &NewUser) -> Result<User, ClientError> {
        self.api(Method::POST, "/v1/admin/users", json(user)?).await
    }

    /// People, optionally of one team (admins).
    pub async fn users(&self, team: Option<&str>) -> Result<Vec<User>, ClientError> {
        match team {
            Some(team) => {
                self.get_items(&format!("/v1/admin/users?team={}", seg(team)))
                    .await
            }
            None => self.get_items("/v1/admin/users").await,
        }
    }

    /// Change a person: role, team, name, password, sign-in identity, or disable them (admins).
    pub async fn update_user(&self, user_id: &str, patch: &UserPatch) -> Result<User, ClientError> {
        self.api(
            Method::PATCH,
            &format!("/v1/admin/users/{}", seg(user_id)),
            json(patch)?,
        )
        .await
    }

    /// Registered devices, optionally one person's (admins).
    pub async fn devices(&self, user: Option<&str>) -> Result<Vec<Device>, ClientError> {
        match user {
            Some(user) => {
                self.get_items(&format!("/v1/admin/devices?user={}", seg(user)))
                    .await
            }
            None => self.get_items("/v1/admin/devices").await,
        }
    }

    /// Revoke a device: its session ends and it wipes itself on its next contact (admins).
    pub async fn revoke_device(&self, device_id: &str) -> Result<Device, ClientError> {
        self.api(
            Method::POST,
            &format!("/v1/admin/devices/{}/revoke", seg(device_id)),
            None,
        )
        .await
    }

    /// Add a child to a team (admins; managers for their team).
    pub async fn create_child(&self, child: &NewChild) -> Result<Child, ClientError> {
        self.api(Method::POST, "/v1/children", json(child)?).await
    }

    /// The children this person may see.
    pub async fn children(&self) -> Result<Vec<Child>, ClientError> {
        self.get_items("/v1/children").await
    }

    /// Allocate a child to a social worker, ending the current allocation (managers).
    pub async fn allocate(
        &self,
        child_id: &str,
        worker_id: &str,
    ) -> Result<Allocation, ClientError> {
        let body = Allocate {
            worker_id: worker_id.to_owned(),
        };
        self.api(
            Method::POST,
            &format!("/v1/children/{}/allocation", seg(child_id)),
            json(&body)?,
        )
        .await
    }

    /// End a child's allocation (managers).
    pub async fn end_allocation(&self, child_id: &str) -> Result<Allocation, ClientError> {
        self.api(
            Method::DELETE,
            &format!("/v1/children/{}/allocation", seg(child_id)),
            None,
        )
        .await
    }

    /// A child's allocation history and how many workers they have had.
    pub async fn allocation_history(
        &self,
        child_id: &str,
    ) -> Result<AllocationHistory, ClientError> {
        self.api(
            Method::GET,
            &format!("/v1/children/{}/allocations", seg(child_id)),
            None,
        )
        .await
    }

    /// Refer a young person to a youth worker (the case holder, or a manager).
    pub async fn refer(
        &self,
        child_id: &str,
        referral: &NewReferral,
    ) -> Result<Referral, ClientError> {
        self.api(
            Method::POST,
            &format!("/v1/children/{}/referrals", seg(child_id)),
            json(referral)?,
        )
        .await
    }

    /// A child's referrals.
    pub async fn referrals(&self, child_id: &str) -> Result<Vec<Referral>, ClientError> {
        self.get_items(&format!("/v1/children/{}/referrals", seg(child_id)))
            .await
    }

    /// End a referral.
    pub async fn end_referral(&self, referral_id: i64) -> Result<Referral, ClientError> {
        self.api(
            Method::POST,
            &format!("/v1/referrals/{referral_id}/end"),
            None,
        )
        .await
    }

    /// Open a child outside one's allocation, giving a reason (time-limited, audited, shown to
    /// the team manager). The child's records arrive on the next sync.
    pub async fn request_access(
        &self,
        child_id: &str,
        request: &AccessRequest,
    ) -> Result<AccessGrant, ClientError> {
        self.api(
            Method::POST,
            &format!("/v1/children/{}/access", seg(child_id)),
            json(request)?,
        )
        .await
    }

    /// Access grants this person may see (their own; managers their team's; admins all).
    pub async fn access_grants(&self, active_only: bool) -> Result<Vec<AccessGrant>, ClientError> {
        self.get_items(&format!("/v1/access-grants?active={active_only}"))
            .await
    }

    /// The audit log (admins; managers one child of their team at a time).
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, ClientError> {
        let mut params = Vec::new();
        if let Some(child) = &query.child {
            params.push(format!("child={}", seg(child)));
        }
        if let Some(user) = &query.user {
            params.push(format!("user={}", seg(user)));
        }
        if let Some(after) = query.after {
            params.push(format!("after={after}"));
        }
        if let Some(limit) = query.limit {
            params.push(format!("limit={limit}"));
        }
        let path = if params.is_empty() {
            "/v1/audit".to_owned()
        } else {
            format!("/v1/audit?{}", params.join("&"))
        };
        self.get_items(&path).await
    }

    /// Input the server refused to apply (admins).
    pub async fn quarantine(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<QuarantineList, ClientError> {
        let path = match after {
            Some(after) => format!("{QUARANTINE_PATH}?after={after}&limit={limit}"),
            None => format!("{QUARANTINE_PATH}?limit={limit}"),
        };
        self.api(Method::GET, &path, None).await
    }
}

/// A request body as JSON.
pub(crate) fn json(body: &impl Serialize) -> Result<Option<Vec<u8>>, ClientError> {
    serde_json::to_vec(body)
        .map(Some)
        .map_err(|e| ClientError::Corrupt(format!("cannot encode the request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::seg;

    #[test]
    fn ids_cannot_change_the_path() {
        assert_eq!(seg("child-01"), "child-01");
        assert_eq!(seg("../admin/users"), "%2E%2E%2Fadmin%2Fusers");
        assert_eq!(
            seg(".."),
            "%2E%2E",
            "a dot segment would be dropped by the URL parser"
        );
        assert_eq!(seg("sam.jones"), "sam%2Ejones");
        assert_eq!(seg("a b?c"), "a%20b%3Fc");
    }
}
