//! The review suites' cast: the standard organisation with one child, the author `sw-a` on two
//! devices (a laptop and a phone) and the team manager `mgr` on a third, all real SDK devices
//! signed in to a real server.

use fieldnotes_client::{Client, Resolution, ReviewQuery};
use fieldnotes_model::{Patch, Record};
use fieldnotes_protocol::ReviewStatus;
use fieldnotes_protocol::admin::{AuditEntry, Listing};
use fieldnotes_protocol::review::ReviewItem;

use crate::client::Device;
use crate::fixtures;
use crate::{Backend, TestDb, TestServer};

/// Three devices on one server (see the module's documentation).
#[derive(Debug)]
pub struct Team {
    /// The author's laptop and phone, and the manager's device.
    pub laptop: Device,
    pub phone: Device,
    pub manager: Device,
    pub server: TestServer,
    _db: TestDb,
}

impl Team {
    /// A fresh server on `backend`, its organisation, and the three devices signed in.
    pub async fn new(backend: Backend) -> anyhow::Result<Team> {
        let (db, server) = TestServer::standard(backend, 1).await?;
        Ok(Team {
            laptop: server.client("sw-a").await?,
            phone: server.client("sw-a").await?,
            manager: server.client("mgr").await?,
            server,
            _db: db,
        })
    }

    /// The laptop, the phone and the manager's device, in that order.
    pub fn devices(&self) -> [&Client; 3] {
        [&self.laptop, &self.phone, &self.manager]
    }

    /// Two sync rounds of every device, in order: afterwards each holds what any wrote.
    pub async fn sync_all(&self) -> anyhow::Result<()> {
        for _ in 0..2 {
            for device in self.devices() {
                device.sync().await?;
            }
        }
        Ok(())
    }

    /// Each device makes its edit to `id` without seeing the others' (offline), then every
    /// device syncs ([`Team::sync_all`]).
    pub async fn edit_apart<'a>(
        &self,
        id: &str,
        edits: impl IntoIterator<Item = (&'a Device, Patch)>,
    ) -> anyhow::Result<()> {
        for (device, patch) in edits {
            device.edit(id, patch).await?;
        }
        self.sync_all().await
    }

    /// A visit note about `child-00` by the author ("Home visit", `body`), written on the
    /// laptop and held by every device. Its id.
    pub async fn shared_note(&self, body: &str) -> anyhow::Result<String> {
        let note = fixtures::note("child-00", "sw-a", "Home visit", body);
        let id = self.laptop.create(note).await?;
        self.sync_all().await?;
        Ok(id)
    }

    /// A short plan of two points about `child-00` by the author, held by every device; then
    /// the laptop adds "Football on Fridays" and the phone "Call nan", each without seeing the
    /// other's, and every device syncs: four points, over the team's limit of three. The
    /// plan's id.
    pub async fn plan_over_its_limit(&self) -> anyhow::Result<String> {
        let start = fixtures::plan("child-00", "sw-a", &["Meet on Tuesdays", "Skate park"]);
        let id = self.laptop.create(start).await?;
        self.sync_all().await?;
        for (device, point) in [
            (&self.laptop, "Football on Fridays"),
            (&self.phone, "Call nan"),
        ] {
            let Some(Record::ShortPlan(plan)) = device.get(&id).await? else {
                anyhow::bail!("{point}: the device does not hold the plan {id}")
            };
            let mut points = plan.content.points.clone();
            points.push(point.into());
            device.edit(&id, fixtures::plan_points(points)).await?;
        }
        self.sync_all().await?;
        Ok(id)
    }

    /// The manager settles review item `item_id` with `resolution` for `reason`, then every
    /// device syncs. The item as decided.
    pub async fn settle(
        &self,
        item_id: i64,
        resolution: Resolution,
        reason: &str,
    ) -> anyhow::Result<ReviewItem> {
        let decided = self
            .manager
            .resolve_review(item_id, resolution, reason)
            .await?;
        self.sync_all().await?;
        Ok(decided)
    }

    /// The review items about `doc_id` the manager's `query` lists.
    pub async fn items(
        &self,
        doc_id: &str,
        query: &ReviewQuery,
    ) -> anyhow::Result<Vec<ReviewItem>> {
        Ok(self
            .manager
            .review_items(query)
            .await?
            .into_iter()
            .filter(|i| i.doc_id == doc_id)
            .collect())
    }

    /// The review items about `doc_id` the manager's queue lists by default.
    pub async fn open_items(&self, doc_id: &str) -> anyhow::Result<Vec<ReviewItem>> {
        self.items(doc_id, &ReviewQuery::default()).await
    }

    /// The review items about `doc_id` with this `status`.
    pub async fn items_with_status(
        &self,
        doc_id: &str,
        status: ReviewStatus,
    ) -> anyhow::Result<Vec<ReviewItem>> {
        let query = ReviewQuery {
            status: Some(status.as_str().to_owned()),
            ..ReviewQuery::default()
        };
        self.items(doc_id, &query).await
    }

    /// The audit entries about `child-00` recording `action`, as an admin lists them.
    pub async fn audit(&self, action: &str) -> anyhow::Result<Vec<AuditEntry>> {
        let admin = self.server.device("admin").await?;
        let log: Listing<AuditEntry> = admin
            .get("/v1/audit?child=child-00&limit=1000")
            .await?
            .json()?;
        Ok(log
            .items
            .into_iter()
            .filter(|e| e.action == action)
            .collect())
    }
}
