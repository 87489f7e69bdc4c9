//! The invariants checked at the end of a run, after the quiet phase: nothing lost, nothing
//! duplicated, acknowledged means durable, everyone in scope has everything, devices converge,
//! scope is kept, and a revoked device holds nothing.

use std::collections::{BTreeMap, BTreeSet};

use fieldnotes_model::{ChangeHash, Document, Record};

use crate::device::SimDevice;
use crate::error::SimError;
use crate::org::Org;
use crate::server::SimServer;
use crate::world::{World, short};

/// What the server holds of one document.
struct ServerDoc {
    scope: String,
    hashes: BTreeSet<String>,
    heads: Vec<ChangeHash>,
    record: Record,
}

/// Every end-of-run invariant.
pub(crate) async fn end_of_run(world: &mut World) -> Result<(), SimError> {
    let server = read_server(&world.server, &world.docs).await?;
    let quarantined = quarantined(&world.server).await?;
    for device in &world.devices {
        check_ledger(device)?;
        // A restore loses the quarantine entries made since the backup, as everything else.
        if !world.restored {
            check_held_kept(device, &quarantined)?;
        }
        check_acknowledged_durable(device, &server)?;
    }
    for device in &mut world.devices {
        if device.wiped() {
            check_wiped(device)?;
        } else {
            check_scope(&world.org, device, &server)?;
            check_documents(device, &server)?;
        }
    }
    Ok(())
}

/// The server's copy of every record made in the run that it stores.
async fn read_server(
    server: &SimServer,
    docs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, ServerDoc>, SimError> {
    let store = server.store()?;
    let mut out = BTreeMap::new();
    for doc_id in docs.keys() {
        let Some(stored) = store.get_document(doc_id).await? else {
            continue;
        };
        let mut doc = Document::load(doc_id, &stored.snapshot).map_err(|e| {
            SimError::invariant(format!("the server's {doc_id} does not load: {e}"))
        })?;
        let record = doc.read().map_err(|e| {
            SimError::invariant(format!("the server's {doc_id} does not read: {e}"))
        })?;
        let hashes = store
            .document_changes(doc_id)
            .await?
            .into_iter()
            .map(|c| c.hash)
            .collect();
        out.insert(
            doc_id.clone(),
            ServerDoc {
                scope: stored.scope_key,
                hashes,
                heads: sorted(doc.heads()),
                record,
            },
        );
    }
    Ok(out)
}

/// (device, document) pairs the server kept refused input for.
async fn quarantined(server: &SimServer) -> Result<BTreeSet<(String, String)>, SimError> {
    let store = server.store()?;
    let mut out = BTreeSet::new();
    let mut after = None;
    loop {
        let page = store.list_quarantine(after, 500).await?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        after = Some(last.id);
        for item in page {
            if let (Some(device), Some(doc)) = (item.device_id, item.doc_id) {
                out.insert((device, doc));
            }
        }
    }
}

/// Each change the device made is exactly one of: acknowledged, waiting in the outbox, held
/// with a reason, dropped with its scope after being held, or lost to a wipe. The outbox holds
/// each change once, and after the quiet phase nothing waits.
fn check_ledger(device: &SimDevice) -> Result<(), SimError> {
    let (store, ledger) = (&device.store, &device.ledger);
    let mut rows: BTreeMap<&str, bool> = BTreeMap::new();
    for row in store.outbox.values() {
        if rows.insert(&row.hash, row.held.is_some()).is_some() {
            return Err(SimError::invariant(format!(
                "{}'s outbox holds change {} twice",
                device.name, row.hash
            )));
        }
        if row.held.is_none() {
            return Err(SimError::invariant(format!(
                "{}'s change {} of {} still waits after the quiet phase",
                device.name,
                row.hash,
                short(&row.doc_id)
            )));
        }
    }
    for (hash, doc_id) in &ledger.made {
        let states = [
            ("acknowledged", ledger.acked.contains(hash)),
            ("in the outbox", rows.contains_key(hash.as_str())),
            ("dropped while held", ledger.dropped_held.contains_key(hash)),
            ("wiped", ledger.wiped_unsent.contains_key(hash)),
        ];
        let is: Vec<&str> = states.iter().filter(|s| s.1).map(|s| s.0).collect();
        if is.len() != 1 {
            return Err(SimError::invariant(format!(
                "change {hash} of {} made on {} is {}: it must be exactly one of \
                 acknowledged, in the outbox, dropped while held, or wiped",
                short(doc_id),
                device.name,
                if is.is_empty() {
                    "none of them (lost)".to_owned()
                } else {
                    is.join(" and ")
                }
            )));
        }
    }
    Ok(())
}

/// Every change a device holds with a reason, or dropped while held, is kept in the server's
/// quarantine (nothing refused is silent).
fn check_held_kept(
    device: &SimDevice,
    quarantined: &BTreeSet<(String, String)>,
) -> Result<(), SimError> {
    let held = device
        .store
        .outbox
        .values()
        .filter(|r| r.held.is_some())
        .map(|r| r.doc_id.clone());
    let dropped = device
        .ledger
        .dropped_held
        .keys()
        .filter_map(|h| device.ledger.made.get(h).cloned());
    for doc_id in held.chain(dropped) {
        if !quarantined.contains(&(device.device_id.clone(), doc_id.clone())) {
            return Err(SimError::invariant(format!(
                "{} holds a refused change of {} the server did not keep in quarantine",
                device.name,
                short(&doc_id)
            )));
        }
    }
    Ok(())
}

/// Every change acknowledged to the device is stored on the server.
fn check_acknowledged_durable(
    device: &SimDevice,
    server: &BTreeMap<String, ServerDoc>,
) -> Result<(), SimError> {
    for hash in &device.ledger.acked {
        let Some(doc_id) = device.ledger.made.get(hash) else {
            continue;
        };
        if !server.get(doc_id).is_some_and(|d| d.hashes.contains(hash)) {
            return Err(SimError::invariant(format!(
                "the server acknowledged change {hash} of {} to {} but does not hold it",
                short(doc_id),
                device.name
            )));
        }
    }
    Ok(())
}

fn check_wiped(device: &SimDevice) -> Result<(), SimError> {
    let store = &device.store;
    if store.docs.is_empty()
        && store.outbox.is_empty()
        && store.scopes.is_empty()
        && store.removing.is_empty()
    {
        return Ok(());
    }
    Err(SimError::invariant(format!(
        "{} was wiped but still holds {} documents and {} outbox changes",
        device.name,
        store.docs.len(),
        store.outbox.len()
    )))
}

/// The device holds in full exactly the keys its person may read, is removing none (nothing
/// waits to be sent any more), and holds no document outside them.
fn check_scope(
    org: &Org,
    device: &SimDevice,
    server: &BTreeMap<String, ServerDoc>,
) -> Result<(), SimError> {
    let want = org.read_keys(&device.user);
    let held: BTreeSet<String> = device.store.scopes.iter().cloned().collect();
    if held != want {
        return Err(SimError::invariant(format!(
            "{} ({}) holds the keys {held:?}, but its scope is {want:?}",
            device.name, device.user
        )));
    }
    if !device.store.removing.is_empty() {
        return Err(SimError::invariant(format!(
            "{} ({}) is still removing the keys {:?} with nothing left to send",
            device.name, device.user, device.store.removing
        )));
    }
    for (doc_id, local) in &device.store.docs {
        if !want.contains(&local.scope) {
            return Err(SimError::invariant(format!(
                "{} ({}) holds {} under {}, outside its scope",
                device.name,
                device.user,
                short(doc_id),
                local.scope
            )));
        }
    }
    for (doc_id, doc) in server {
        if want.contains(&doc.scope) && !device.store.docs.contains_key(doc_id) {
            return Err(SimError::invariant(format!(
                "{} ({}) lacks {} ({}), which is in its scope",
                device.name,
                device.user,
                short(doc_id),
                doc.scope
            )));
        }
    }
    Ok(())
}

/// Each document the device holds has every change the server has; with nothing of its own
/// held back, it is the server's document: the same heads and the same content.
fn check_documents(
    device: &mut SimDevice,
    server: &BTreeMap<String, ServerDoc>,
) -> Result<(), SimError> {
    let name = device.name.clone();
    let held: BTreeSet<String> = device
        .store
        .outbox
        .values()
        .map(|r| r.doc_id.clone())
        .collect();
    for (doc_id, local) in &mut device.store.docs {
        let Some(theirs) = server.get(doc_id) else {
            if held.contains(doc_id) {
                continue;
            }
            return Err(SimError::invariant(format!(
                "{name} holds {}, which the server never stored, with nothing waiting",
                short(doc_id)
            )));
        };
        let mine: BTreeSet<String> = local
            .doc
            .all_changes()
            .iter()
            .map(|c| c.hash.to_string())
            .collect();
        if let Some(missing) = theirs.hashes.difference(&mine).next() {
            return Err(SimError::invariant(format!(
                "{name} lacks change {missing} of {}",
                short(doc_id)
            )));
        }
        if held.contains(doc_id) {
            continue;
        }
        let record = local
            .doc
            .read()
            .map_err(|e| SimError::invariant(format!("{name}'s {doc_id} does not read: {e}")))?;
        if sorted(local.doc.heads()) != theirs.heads || record != theirs.record {
            return Err(SimError::invariant(format!(
                "{name}'s {} differs from the server's",
                short(doc_id)
            )));
        }
    }
    Ok(())
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}
