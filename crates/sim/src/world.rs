//! One run: the server, the organisation, the devices, and the seeded schedule that drives
//! them. Everything random comes from one generator seeded with the run's seed, drawn in the
//! order the run executes, so a seed replays the same run exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use axum::http::Method;
use fieldnotes_model::{
    ActorId, NewRecord, NewVisitNote, NoteStatus, Patch, Record, VisitKind, VisitNotePatch,
};
use fieldnotes_protocol::admin::Allocate;
use fieldnotes_server::state::Limits as ServerLimits;
use fieldnotes_sync_core::Limits;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt as _, SeedableRng as _};

use crate::device::{Fault, SimDevice, SyncEnd};
use crate::error::SimError;
use crate::org::{ADMIN, MANAGER, Org};
use crate::server::SimServer;
use crate::{Options, Stats};

/// The simulation's clock at the start of every run: 2026-03-02T09:00:00Z.
const START_MS: i64 = 1_772_442_000_000;
/// Every note is dated this (in the past of any server that runs the simulation).
const OCCURRED_AT: &str = "2026-03-01T10:00:00Z";

const WORDS: &[&str] = &[
    "visit", "school", "home", "mum", "carer", "football", "drawing", "worried", "happy", "dinner",
    "teacher", "friends", "park", "bus", "safe", "talked", "wanted", "said", "quiet", "garden",
    "music", "dog", "weekend", "review", "agreed", "next", "week",
];

/// The devices' and the consoles' view of the run.
pub(crate) struct World {
    pub rng: Xoshiro256PlusPlus,
    pub server: SimServer,
    pub org: Org,
    pub devices: Vec<SimDevice>,
    /// Access tokens of the admin's and the manager's consoles (devices that never sync).
    admin_token: String,
    manager_token: String,
    device_limits: Limits,
    /// Every record made, with the scope key it was made under.
    pub docs: BTreeMap<String, String>,
    pub now_ms: i64,
    pub step: usize,
    pub trace: Vec<String>,
    pub stats: Stats,
    options: Options,
    /// How many steps the schedule has.
    pub steps: usize,
    /// The steps at which the database is backed up and later restored from that backup (a
    /// run that restores revokes no device: see [`World::one_step`]).
    restore_plan: Option<(usize, usize)>,
    /// The backup's URL, and the organisation as it was then.
    backup: Option<(String, Org)>,
    /// The server's database was restored from a backup: it lost what it acknowledged since.
    pub restored: bool,
    /// Where the run keeps its files.
    dir: PathBuf,
    /// Each child's earlier social workers in this run.
    past_holders: BTreeMap<String, BTreeSet<String>>,
}

impl World {
    /// Draw the run's shape from the seed, write the organisation and sign the devices in.
    pub async fn new(seed: u64, dir: &Path, options: Options) -> Result<World, SimError> {
        let url = format!("sqlite://{}", dir.join("server.db").display());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let steps = rng.random_range(30..=70);
        let restore_plan = rng.random_bool(0.25).then(|| {
            let backup = rng.random_range(3..steps / 2);
            (backup, rng.random_range(backup + 1..steps - 2))
        });
        let org = draw_org(&mut rng);
        let limits = draw_server_limits(&mut rng);
        let device_limits = Limits {
            push_batch_bytes: *pick(&mut rng, &[300, 2_000, 4 * 1024 * 1024]),
            page_bytes: *pick(&mut rng, &[400, 4_000, 4 * 1024 * 1024]),
        };
        let server = SimServer::open(&url, limits).await?;
        org.write(server.store()?).await?;
        let admin_token = console(&server, ADMIN, "sim-console-admin").await?;
        let manager_token = console(&server, MANAGER, "sim-console-manager").await?;
        let mut world = World {
            rng,
            server,
            org,
            devices: Vec::new(),
            admin_token,
            manager_token,
            device_limits,
            docs: BTreeMap::new(),
            now_ms: START_MS,
            step: 0,
            trace: Vec::new(),
            stats: Stats::default(),
            options,
            steps,
            restore_plan,
            backup: None,
            restored: false,
            dir: dir.to_owned(),
            past_holders: BTreeMap::new(),
        };
        world.note(format!(
            "seed {seed}: pod reading {}, workers {:?}, children {:?}, server {} B/request \
             {} ops/request, devices push {} B page {} B, {} steps, backup and restore at \
             {:?}",
            world.org.pod_read_access,
            world.org.workers,
            world.org.children,
            limits.max_request_bytes,
            limits.max_ops_per_request,
            device_limits.push_batch_bytes,
            device_limits.page_bytes,
            steps,
            restore_plan,
        ));
        let mut users: Vec<String> = world.org.workers.clone();
        users.push(MANAGER.to_owned());
        for user in users {
            world.enrol(&user).await?;
            if world.rng.random_bool(0.5) {
                world.enrol(&user).await?;
            }
        }
        Ok(world)
    }

    pub fn note(&mut self, line: String) {
        self.trace.push(line);
    }

    /// Sign a new device in for `user`.
    pub async fn enrol(&mut self, user: &str) -> Result<(), SimError> {
        let index = self.devices.len();
        let actor = ActorId::from(self.rng.random::<[u8; 16]>().to_vec());
        let skew_ms = self.rng.random_range(-3_600_000..=3_600_000);
        let mut device = SimDevice::sign_in(
            &self.server,
            index,
            user,
            actor,
            self.device_limits,
            skew_ms,
        )
        .await?;
        device.store.sabotage = self.options.sabotage;
        self.note(format!(
            "{}: {user} signs in on {}",
            device.name, device.device_id
        ));
        self.devices.push(device);
        Ok(())
    }

    /// The end-of-run counts.
    pub fn count_end(&mut self) {
        let stats = &mut self.stats;
        stats.steps = self.step as u64;
        stats.documents = self.docs.len() as u64;
        for device in &self.devices {
            stats.devices += 1;
            stats.wiped_unsent += device.ledger.wiped_unsent.len() as u64;
            stats.held += device.ledger.dropped_held.len() as u64;
            stats.held += device.store.outbox.len() as u64;
        }
    }

    /// Run the schedule.
    pub async fn run(&mut self) -> Result<(), SimError> {
        for _ in 0..self.steps {
            self.step += 1;
            self.now_ms += self.rng.random_range(1_000..=600_000);
            self.one_step().await?;
        }
        Ok(())
    }

    async fn one_step(&mut self) -> Result<(), SimError> {
        match self.restore_plan {
            Some((backup, _)) if backup == self.step => return self.back_up().await,
            Some((_, restore)) if restore == self.step => return self.restore().await,
            _ => {}
        }
        let roll = self.rng.random_range(0..100u32);
        let Some(d) = self.pick_device() else {
            return self.enrol(MANAGER).await;
        };
        match roll {
            0..40 => self.edit(d),
            40..72 => self.sync(d).await,
            72..77 => {
                let syncs = self.rng.random_range(1..=6);
                self.devices[d].offline_syncs = syncs;
                let name = self.devices[d].name.clone();
                self.note(format!("{name}: offline for its next {syncs} syncs"));
                Ok(())
            }
            77..80 => self.restart().await,
            // Before a restore, no allocation changes: a change written under an allocation
            // the restore loses is refused when sent again, and one whose record its device
            // removed with the scope (written late, under the grace period) cannot be sent
            // again at all; others' changes built on either wait for ever. The design accepts
            // both losses (docs/ARCHITECTURE.md, "Restores"); the simulation leaves them out.
            80..87 if self.restore_plan.is_some() && !self.restored => self.sync(d).await,
            80..87 => self.reallocate().await,
            // A device revoked after a backup and wiped before a restore cannot send again
            // what the restore lost, and others' changes built on it would wait for ever: the
            // design accepts that loss, so a run that restores revokes nothing.
            87..89 if self.restore_plan.is_some() => self.sync(d).await,
            87..89 => self.revoke(d).await,
            89..91 => {
                let user = self.devices[d].user.clone();
                self.enrol(&user).await
            }
            _ => self.rogue_edit(d),
        }
    }

    /// A device still in use, at random.
    fn pick_device(&mut self) -> Option<usize> {
        let alive: Vec<usize> = (0..self.devices.len())
            .filter(|&d| !self.devices[d].wiped())
            .collect();
        if alive.is_empty() {
            return None;
        }
        Some(alive[self.rng.random_range(0..alive.len())])
    }

    /// The keys device `d` may write to as far as it knows: children it holds in full and
    /// was not told are read-only.
    fn writable_keys(&self, d: usize) -> Vec<String> {
        let store = &self.devices[d].store;
        store
            .scopes
            .iter()
            .filter(|k| fieldnotes_model::scope::child_of(k).is_some())
            .filter(|k| !store.read_only.contains(k))
            .cloned()
            .collect()
    }

    /// Documents device `d` holds under one of `keys`.
    fn docs_under(&self, d: usize, keys: &[String]) -> Vec<String> {
        self.devices[d]
            .store
            .docs
            .iter()
            .filter(|(_, doc)| keys.contains(&doc.scope))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// A person's edit on device `d`: a new note, a new title, more body, or completing.
    fn edit(&mut self, d: usize) -> Result<(), SimError> {
        let keys = self.writable_keys(d);
        // A record whose key is being removed may still be edited (as on the SDK), which makes
        // its removal wait longer; a new record needs a key held.
        let removing = self.devices[d].store.removing.clone();
        let docs = self.docs_under(d, &[keys.as_slice(), removing.as_slice()].concat());
        if docs.is_empty() && keys.is_empty() {
            return Ok(());
        }
        if !keys.is_empty() && (docs.is_empty() || self.rng.random_bool(0.25)) {
            let key = pick(&mut self.rng, &keys).clone();
            return self.create(d, &key);
        }
        let doc_id = pick(&mut self.rng, &docs).clone();
        let roll = self.rng.random_range(0..100u32);
        let (what, patch) = match roll {
            0..40 => ("title", self.title_patch()),
            40..92 => ("body", self.body_patch(d, &doc_id)?),
            _ => ("status", self.complete_patch(d, &doc_id)?),
        };
        let at = self.device_time(d);
        let changed = self.devices[d].edit(&doc_id, Patch::VisitNote(patch), at)?;
        let name = self.devices[d].name.clone();
        self.stats.edits += u64::from(changed);
        self.note(format!(
            "{name}: edits the {what} of {}{}",
            short(&doc_id),
            if changed {
                ""
            } else {
                " (refused on the device)"
            }
        ));
        Ok(())
    }

    fn create(&mut self, d: usize, key: &str) -> Result<(), SimError> {
        let child = fieldnotes_model::scope::child_of(key)
            .ok_or_else(|| SimError::invariant(format!("{key} is not a child's key")))?
            .to_owned();
        let doc_id = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
        let doc_id = doc_id.to_string();
        let title = self.words(3);
        let body = self.words(12);
        let user = self.devices[d].user.clone();
        let record = NewRecord::VisitNote(NewVisitNote::new(
            &child,
            &user,
            VisitKind::HomeVisit,
            OCCURRED_AT,
            &title,
            &body,
        ));
        let at = self.device_time(d);
        self.devices[d].create(&doc_id, record, at)?;
        self.docs.insert(doc_id.clone(), key.to_owned());
        self.stats.edits += 1;
        let name = self.devices[d].name.clone();
        self.note(format!(
            "{name}: writes note {} about {child}",
            short(&doc_id)
        ));
        Ok(())
    }

    fn title_patch(&mut self) -> VisitNotePatch {
        VisitNotePatch {
            title: Some(self.words(3)),
            ..VisitNotePatch::default()
        }
    }

    fn body_patch(&mut self, d: usize, doc_id: &str) -> Result<VisitNotePatch, SimError> {
        let note = self.read_note(d, doc_id)?;
        let more = self.words(4);
        Ok(VisitNotePatch {
            body: Some(format!("{} {more}", note.content.body)),
            ..VisitNotePatch::default()
        })
    }

    /// Completing a note: the model refuses it unless the person is its author and it is a
    /// draft that may be completed (then the edit is refused on the device).
    fn complete_patch(&mut self, d: usize, doc_id: &str) -> Result<VisitNotePatch, SimError> {
        let note = self.read_note(d, doc_id)?;
        let status = (note.content.author == self.devices[d].user).then_some(NoteStatus::Completed);
        Ok(VisitNotePatch {
            status,
            ..VisitNotePatch::default()
        })
    }

    fn read_note(&self, d: usize, doc_id: &str) -> Result<fieldnotes_model::VisitNote, SimError> {
        let local = self.devices[d]
            .store
            .docs
            .get(doc_id)
            .ok_or_else(|| SimError::invariant(format!("{doc_id} vanished")))?;
        match local.doc.read() {
            Ok(Record::VisitNote(note)) => Ok(note),
            Ok(_) => Err(SimError::invariant(format!("{doc_id} is not a visit note"))),
            Err(e) => Err(SimError::Apply {
                doc_id: doc_id.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    /// A change the device should not make: a new title on a record it may only read (an
    /// old app, or a check skipped). The server must refuse it, and the device hold it.
    fn rogue_edit(&mut self, d: usize) -> Result<(), SimError> {
        let read_only = self.devices[d].store.read_only.clone();
        let docs = self.docs_under(d, &read_only);
        if docs.is_empty() {
            return self.edit(d);
        }
        let doc_id = pick(&mut self.rng, &docs).clone();
        let patch = self.title_patch();
        let at = self.device_time(d);
        let changed = self.devices[d].edit(&doc_id, Patch::VisitNote(patch), at)?;
        self.stats.rogue_edits += u64::from(changed);
        let name = self.devices[d].name.clone();
        self.note(format!(
            "{name}: edits read-only {} without checking",
            short(&doc_id)
        ));
        Ok(())
    }

    /// Device `d` syncs through the faulty network.
    async fn sync(&mut self, d: usize) -> Result<(), SimError> {
        let rng = &mut self.rng;
        let mut faults = Vec::new();
        let mut draw = || {
            let fault = match rng.random_range(0..100u32) {
                0..76 => Fault::None,
                76..84 => Fault::DropRequest,
                84..92 => Fault::Duplicate,
                _ => Fault::LoseResponse,
            };
            faults.push(fault);
            fault
        };
        let device = &mut self.devices[d];
        let report = device.sync(&self.server, &mut draw).await?;
        if report.end == SyncEnd::SignedOut {
            device.sign_in_again(&self.server).await?;
        }
        let offline = device.offline_syncs > 0;
        device.offline_syncs = device.offline_syncs.saturating_sub(1);
        let name = device.name.clone();
        self.stats.count_sync(&report, &faults);
        let faults: Vec<Fault> = faults.into_iter().filter(|f| *f != Fault::None).collect();
        self.note(format!(
            "{name}: syncs{}: {:?} after {} rounds{}",
            if offline { " (offline)" } else { "" },
            report.end,
            report.rounds,
            if faults.is_empty() {
                String::new()
            } else {
                format!(", network {faults:?}")
            }
        ));
        Ok(())
    }

    async fn back_up(&mut self) -> Result<(), SimError> {
        let url = self.server.backup(&self.dir.join("backup.db")).await?;
        self.backup = Some((url, self.org.clone()));
        self.note("the database is backed up".to_owned());
        Ok(())
    }

    /// The server comes back on the backup: everything since is lost to it, including
    /// allocations, sessions and devices registered since.
    async fn restore(&mut self) -> Result<(), SimError> {
        let Some((url, org)) = self.backup.take() else {
            return Ok(());
        };
        self.server.restore(&url).await?;
        self.org = org;
        self.restored = true;
        self.stats.restores += 1;
        self.note("the server comes back on the backup".to_owned());
        Ok(())
    }

    async fn restart(&mut self) -> Result<(), SimError> {
        self.server.restart().await?;
        self.stats.restarts += 1;
        self.note("server restarts".to_owned());
        Ok(())
    }

    /// The manager moves a child to another social worker (or ends its allocation).
    async fn reallocate(&mut self) -> Result<(), SimError> {
        let children: Vec<String> = self.org.children.keys().cloned().collect();
        let child = pick(&mut self.rng, &children).clone();
        let current = self.org.children.get(&child).cloned().flatten();
        let before = self.past_holders.entry(child.clone()).or_default();
        // Unless the options allow it, a child never goes back to a worker who had it (the
        // seeds found before `Options::returns` replay without it).
        let others: Vec<String> = self
            .org
            .workers
            .iter()
            .filter(|w| Some(*w) != current.as_ref())
            .filter(|w| self.options.returns || !before.contains(*w))
            .cloned()
            .collect();
        let path = format!("/v1/children/{child}/allocation");
        let token = Some(self.manager_token.as_str());
        let to = if others.is_empty() || (current.is_some() && self.rng.random_bool(0.15)) {
            if current.is_none() {
                return Ok(());
            }
            let answer = self.server.call(Method::DELETE, &path, token, None).await?;
            if !answer.status.is_success() {
                return Err(answer.unexpected("ending an allocation"));
            }
            None
        } else {
            let worker = pick(&mut self.rng, &others).clone();
            let body = Allocate {
                worker_id: worker.clone(),
            };
            let _: serde_json::Value = self.server.json(Method::POST, &path, token, &body).await?;
            Some(worker)
        };
        self.note(format!("manager moves {child} from {current:?} to {to:?}"));
        if let Some(current) = current {
            self.past_holders
                .entry(child.clone())
                .or_default()
                .insert(current);
        }
        self.org.children.insert(child, to);
        self.stats.reallocations += 1;
        Ok(())
    }

    /// The admin revokes device `d`; it learns on its next sync.
    async fn revoke(&mut self, d: usize) -> Result<(), SimError> {
        let path = format!("/v1/admin/devices/{}/revoke", self.devices[d].device_id);
        let token = Some(self.admin_token.as_str());
        let _: serde_json::Value = self
            .server
            .json(Method::POST, &path, token, &serde_json::json!({}))
            .await?;
        self.stats.revocations += 1;
        let name = self.devices[d].name.clone();
        self.note(format!("admin revokes {name}"));
        Ok(())
    }

    /// The end state of each device, in a line each: a run replayed from its seed must end
    /// the same.
    pub fn note_end_states(&mut self) {
        use std::hash::{DefaultHasher, Hash as _, Hasher as _};
        let mut lines = Vec::new();
        for device in &mut self.devices {
            let mut hasher = DefaultHasher::new();
            device.fingerprint().hash(&mut hasher);
            lines.push(format!(
                "end: {} holds {} documents, {} outbox changes, state {:016x}",
                device.name,
                device.store.docs.len(),
                device.store.outbox.len(),
                hasher.finish()
            ));
        }
        self.trace.extend(lines);
    }

    /// Every device back online, syncing with no faults until a whole pass moves nothing.
    pub async fn quiet(&mut self) -> Result<(), SimError> {
        const MAX_PASSES: usize = 12;
        for device in &mut self.devices {
            device.offline_syncs = 0;
        }
        for pass in 1..=MAX_PASSES {
            let mut moved = false;
            for d in 0..self.devices.len() {
                if self.devices[d].wiped() {
                    continue;
                }
                let before = self.devices[d].fingerprint();
                let report = self.devices[d]
                    .sync(&self.server, &mut || Fault::None)
                    .await?;
                if report.end == SyncEnd::SignedOut {
                    self.devices[d].sign_in_again(&self.server).await?;
                    moved = true;
                    continue;
                }
                if report.end != SyncEnd::Done && report.end != SyncEnd::Wiped {
                    return Err(SimError::invariant(format!(
                        "{} could not finish a sync with a perfect network: {:?}",
                        self.devices[d].name, report.end
                    )));
                }
                moved |= self.devices[d].fingerprint() != before;
            }
            if !moved {
                self.note(format!("quiet after {pass} passes"));
                return Ok(());
            }
        }
        Err(SimError::invariant(format!(
            "the devices still changed after {MAX_PASSES} syncs each with a perfect network"
        )))
    }

    fn device_time(&self, d: usize) -> i64 {
        self.now_ms + self.devices[d].skew_ms
    }

    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| *pick(&mut self.rng, WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Sign a console (a device that only calls the admin API) in.
async fn console(server: &SimServer, user: &str, device_id: &str) -> Result<String, SimError> {
    let login = fieldnotes_protocol::auth::PasswordLogin {
        username: user.to_owned(),
        password: crate::device::PASSWORD.to_owned(),
        device: fieldnotes_protocol::auth::DeviceInfo {
            device_id: device_id.to_owned(),
            actor_id: format!("{:0>32}", hex_of(device_id)),
            name: format!("{user}'s console"),
        },
    };
    let session: fieldnotes_protocol::auth::Session = server
        .json(
            Method::POST,
            fieldnotes_protocol::auth::LOGIN_PATH,
            None,
            &login,
        )
        .await?;
    Ok(session.tokens.access_token)
}

fn hex_of(text: &str) -> String {
    text.bytes().take(16).map(|b| format!("{b:02x}")).collect()
}

fn draw_org(rng: &mut Xoshiro256PlusPlus) -> Org {
    let workers: Vec<String> = (0..rng.random_range(2..=3usize))
        .map(|i| format!("sw-{}", char::from(b'a' + u8::try_from(i).unwrap_or(0))))
        .collect();
    let children = (0..rng.random_range(2..=4usize))
        .map(|i| {
            let worker = workers[rng.random_range(0..workers.len())].clone();
            (format!("child-{i}"), Some(worker))
        })
        .collect();
    Org {
        pod_read_access: rng.random_bool(0.4),
        workers,
        children,
    }
}

fn draw_server_limits(rng: &mut Xoshiro256PlusPlus) -> ServerLimits {
    const MIB: usize = 1024 * 1024;
    let max_request_bytes = *pick(rng, &[2 * 1024, 32 * MIB]);
    ServerLimits {
        max_request_bytes,
        max_doc_push_bytes: max_request_bytes.min(16 * MIB),
        max_ops_per_request: *pick(rng, &[150, 1_000_000]),
    }
}

fn pick<'a, T>(rng: &mut Xoshiro256PlusPlus, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// The first eight characters of an id, for the trace.
pub(crate) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
