//! The server's people-and-structure API, typed: teams, people, children, allocations,
//! referrals, access outside allocation, devices, the audit log and the quarantine. Every call
//! needs a signed-in, unlocked client; the server decides what the person may do and its
//! refusals come back as [`ClientError::Server`] with the reason.

use fieldnotes_protocol::admin::{
    AccessGrant, AccessRequest, Allocate, Allocation, AllocationHistory, AuditEntry, AuditQuery,
    Child, Device, DevicesQuery, GrantsQuery, Listing, NewChild, NewReferral, NewTeam, NewUser,
    QuarantineQuery, Referral, Team, TeamPatch, User, UserPatch, UsersQuery,
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

/// A path with query parameters; text values are percent-encoded, and a parameter left `None`
/// is left out.
pub(crate) struct PathQuery {
    path: String,
    params: usize,
}

impl PathQuery {
    pub(crate) fn new(path: &str) -> Self {
        PathQuery {
            path: path.to_owned(),
            params: 0,
        }
    }

    /// A text parameter (an id, a status), encoded as one segment.
    pub(crate) fn text(self, name: &str, value: Option<&str>) -> Self {
        self.value(name, value.map(seg))
    }

    /// A parameter written as it displays (a number, a flag).
    pub(crate) fn value(mut self, name: &str, value: Option<impl std::fmt::Display>) -> Self {
        if let Some(value) = value {
            let sep = if self.params == 0 { '?' } else { '&' };
            self.path.push_str(&format!("{sep}{name}={value}"));
            self.params += 1;
        }
        self
    }

    pub(crate) fn finish(self) -> String {
        self.path
    }

    /// `path` with the fields of `query` (a protocol query type) as its parameters, in their
    /// order; fields left `None` are left out.
    pub(crate) fn of(path: &str, query: &impl Serialize) -> Result<String, ClientError> {
        // Written with serde (as the server reads it), then each value encoded as today.
        let failed = |e: &dyn std::fmt::Display| {
            ClientError::Corrupt(format!("cannot encode the query: {e}"))
        };
        let encoded = serde_urlencoded::to_string(query).map_err(|e| failed(&e))?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&encoded).map_err(|e| failed(&e))?;
        let with = |q: PathQuery, (name, value): &(String, String)| q.text(name, Some(value));
        Ok(pairs.iter().fold(PathQuery::new(path), with).finish())
    }
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

    /// An authenticated GET.
    pub(crate) async fn get_json<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        self.api(Method::GET, path, None).await
    }

    /// An authenticated call with `body` as JSON.
    pub(crate) async fn send<R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<R, ClientError> {
        self.api(method, path, json(body)?).await
    }

    pub(crate) async fn get_items<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, ClientError> {
        Ok(self.get_json::<Listing<T>>(path).await?.items)
    }

    /// Add a team (admins).
    pub async fn create_team(&self, team: &NewTeam) -> Result<Team, ClientError> {
        self.send(Method::POST, "/v1/admin/teams", team).await
    }

    /// Every team (admins).
    pub async fn teams(&self) -> Result<Vec<Team>, ClientError> {
        self.get_items("/v1/admin/teams").await
    }

    /// Rename a team or change its pod-wide reading (admins).
    pub async fn update_team(&self, team_id: &str, patch: &TeamPatch) -> Result<Team, ClientError> {
        let path = format!("/v1/admin/teams/{}", seg(team_id));
        self.send(Method::PATCH, &path, patch).await
    }

    /// Add a person (admins).
    pub async fn create_user(&self, user: &NewUser) -> Result<User, ClientError> {
        self.send(Method::POST, "/v1/admin/users", user).await
    }

    /// People, optionally of one team (admins).
    pub async fn users(&self, team: Option<&str>) -> Result<Vec<User>, ClientError> {
        let team = team.map(str::to_owned);
        let path = PathQuery::of("/v1/admin/users", &UsersQuery { team })?;
        self.get_items(&path).await
    }

    /// Change a person: role, team, name, password, sign-in identity, or disable them (admins).
    pub async fn update_user(&self, user_id: &str, patch: &UserPatch) -> Result<User, ClientError> {
        let path = format!("/v1/admin/users/{}", seg(user_id));
        self.send(Method::PATCH, &path, patch).await
    }

    /// Registered devices, optionally one person's (admins).
    pub async fn devices(&self, user: Option<&str>) -> Result<Vec<Device>, ClientError> {
        let user = user.map(str::to_owned);
        let path = PathQuery::of("/v1/admin/devices", &DevicesQuery { user })?;
        self.get_items(&path).await
    }

    /// Revoke a device: its session ends and it wipes itself on its next contact (admins).
    pub async fn revoke_device(&self, device_id: &str) -> Result<Device, ClientError> {
        let path = format!("/v1/admin/devices/{}/revoke", seg(device_id));
        self.api(Method::POST, &path, None).await
    }

    /// Add a child to a team (admins; managers for their team).
    pub async fn create_child(&self, child: &NewChild) -> Result<Child, ClientError> {
        self.send(Method::POST, "/v1/children", child).await
    }

    /// The children this person may see. The list is also kept on the device, sealed, for
    /// [`Client::known_children`].
    pub async fn children(&self) -> Result<Vec<Child>, ClientError> {
        let children: Vec<Child> = self.get_items("/v1/children").await?;
        let keys = self.keys()?;
        let listed = serde_json::to_vec(&children).map_err(|e| {
            ClientError::Corrupt(format!("cannot encode the list of children: {e}"))
        })?;
        let mut tx = self.store.begin().await?;
        tx.set_sealed_meta(&keys, crate::META_CHILDREN, &listed)
            .await?;
        self.store.commit(tx).await?;
        Ok(children)
    }

    /// The children as [`Client::children`] last listed them on this device, without the
    /// network: how an app names children in a caseload when there is no signal. Empty until
    /// the first listing; a child who has left the person's caseload stays until the next.
    pub async fn known_children(&self) -> Result<Vec<Child>, ClientError> {
        let keys = self.keys()?;
        match self.store.sealed_meta(&keys, crate::META_CHILDREN).await? {
            Some(listed) => serde_json::from_slice(&listed)
                .map_err(|e| ClientError::Corrupt(format!("the stored list of children: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    /// The signed-in person's team and its rules. Kept on the device, sealed, for
    /// [`Client::known_team`]: a plan written with no signal keeps to the team's point limit.
    pub async fn team(&self) -> Result<Team, ClientError> {
        let team: Team = self.get_json(fieldnotes_protocol::auth::TEAM_PATH).await?;
        let keys = self.keys()?;
        let kept = serde_json::to_vec(&team)
            .map_err(|e| ClientError::Corrupt(format!("cannot encode the team: {e}")))?;
        let mut tx = self.store.begin().await?;
        tx.set_sealed_meta(&keys, crate::META_TEAM, &kept).await?;
        self.store.commit(tx).await?;
        Ok(team)
    }

    /// The people of this person's team who can sign in, with their names (everyone, for an
    /// admin in no team).
    pub async fn team_people(
        &self,
    ) -> Result<Vec<fieldnotes_protocol::auth::Colleague>, ClientError> {
        self.get_items(fieldnotes_protocol::auth::TEAM_PEOPLE_PATH)
            .await
    }

    /// The team as [`Client::team`] last fetched it on this device, without the network.
    /// `None` until the first fetch.
    pub async fn known_team(&self) -> Result<Option<Team>, ClientError> {
        let keys = self.keys()?;
        match self.store.sealed_meta(&keys, crate::META_TEAM).await? {
            Some(kept) => serde_json::from_slice(&kept)
                .map(Some)
                .map_err(|e| ClientError::Corrupt(format!("the stored team: {e}"))),
            None => Ok(None),
        }
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
        self.send(Method::POST, &child_path(child_id, "allocation"), &body)
            .await
    }

    /// End a child's allocation (managers).
    pub async fn end_allocation(&self, child_id: &str) -> Result<Allocation, ClientError> {
        self.api(Method::DELETE, &child_path(child_id, "allocation"), None)
            .await
    }

    /// A child's allocation history and how many workers they have had.
    pub async fn allocation_history(
        &self,
        child_id: &str,
    ) -> Result<AllocationHistory, ClientError> {
        self.get_json(&child_path(child_id, "allocations")).await
    }

    /// Refer a young person to a youth worker (the case holder, or a manager).
    pub async fn refer(
        &self,
        child_id: &str,
        referral: &NewReferral,
    ) -> Result<Referral, ClientError> {
        self.send(Method::POST, &child_path(child_id, "referrals"), referral)
            .await
    }

    /// A child's referrals.
    pub async fn referrals(&self, child_id: &str) -> Result<Vec<Referral>, ClientError> {
        self.get_items(&child_path(child_id, "referrals")).await
    }

    /// End a referral.
    pub async fn end_referral(&self, referral_id: i64) -> Result<Referral, ClientError> {
        let path = format!("/v1/referrals/{referral_id}/end");
        self.api(Method::POST, &path, None).await
    }

    /// Open a child outside one's allocation, giving a reason (time-limited, audited, shown to
    /// the team manager). The child's records arrive on the next sync.
    pub async fn request_access(
        &self,
        child_id: &str,
        request: &AccessRequest,
    ) -> Result<AccessGrant, ClientError> {
        self.send(Method::POST, &child_path(child_id, "access"), request)
            .await
    }

    /// Access grants this person may see (their own; managers their team's; admins all).
    pub async fn access_grants(&self, active_only: bool) -> Result<Vec<AccessGrant>, ClientError> {
        let query = GrantsQuery {
            active: active_only,
        };
        self.get_items(&PathQuery::of("/v1/access-grants", &query)?)
            .await
    }

    /// The audit log (admins; managers one child of their team at a time).
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, ClientError> {
        self.get_items(&PathQuery::of("/v1/audit", query)?).await
    }

    /// Input the server refused to apply (admins).
    pub async fn quarantine(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<QuarantineList, ClientError> {
        let limit = Some(limit);
        let path = PathQuery::of(QUARANTINE_PATH, &QuarantineQuery { after, limit })?;
        self.get_json(&path).await
    }
}

/// The path of a child's `part` (`allocation`, `referrals`, ...).
fn child_path(child_id: &str, part: &str) -> String {
    format!("/v1/children/{}/{part}", seg(child_id))
}

/// A request body as JSON.
pub(crate) fn json(body: &impl Serialize) -> Result<Option<Vec<u8>>, ClientError> {
    serde_json::to_vec(body)
        .map(Some)
        .map_err(|e| ClientError::Corrupt(format!("cannot encode the request: {e}")))
}

#[cfg(test)]
mod tests {
    use fieldnotes_protocol::admin::GrantsQuery;
    use fieldnotes_protocol::review::ReviewQuery;

    use super::{PathQuery, seg};

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

    #[test]
    fn query_parameters_left_out_are_not_written() {
        let none: Option<&str> = None;
        assert_eq!(PathQuery::new("/v1/x").text("a", none).finish(), "/v1/x");
        let path = PathQuery::new("/v1/x")
            .text("a", none)
            .text("b", Some("c 1"))
            .value("n", Some(5));
        assert_eq!(path.finish(), "/v1/x?b=c%201&n=5");
    }

    #[test]
    fn a_protocol_query_is_written_in_field_order_with_ids_encoded() {
        let query = ReviewQuery {
            status: Some("all".to_owned()),
            team: Some("pod a.1".to_owned()),
            older_than_hours: Some(48),
            ..ReviewQuery::default()
        };
        assert_eq!(
            PathQuery::of("/v1/review", &query).unwrap(),
            "/v1/review?status=all&team=pod%20a%2E1&older_than_hours=48"
        );
        let none = PathQuery::of("/v1/review", &ReviewQuery::default()).unwrap();
        assert_eq!(none, "/v1/review");
        let grants = PathQuery::of("/v1/access-grants", &GrantsQuery { active: false });
        assert_eq!(grants.unwrap(), "/v1/access-grants?active=false");
    }
}
