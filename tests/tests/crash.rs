//! Invariant 2 end to end: the server process is killed with SIGKILL in the middle of a burst
//! of pushes and restarted on the same database. Every change it acknowledged is there, and the
//! devices converge with it after pushing again what was not acknowledged.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fieldnotes_model::{Document, Patch, VisitNotePatch, hash_hex};
use fieldnotes_protocol::PushOutcome;
use fieldnotes_tests::check::all_accepted;
use fieldnotes_tests::fixtures::{rng, visit_note, words};
use fieldnotes_tests::org::seed_standard;
use fieldnotes_tests::wire::{push_all, raw_push};
use fieldnotes_tests::{Backend, RawDevice, ServerProcess, TestDb};
use tokio::sync::{Mutex, Notify};

const SERVER: &str = env!("CARGO_BIN_EXE_fieldnotes-test-server");
const DEVICES: usize = 4;
const DOCS_PER_DEVICE: usize = 6;
/// Kill the server once this many pushes have been acknowledged.
const KILL_AFTER_ACKS: usize = 40;

/// What one device holds: its documents and which of its changes the server acknowledged.
struct Device {
    name: String,
    raw: RawDevice,
    docs: Vec<Document>,
    acked: BTreeSet<String>,
}

async fn acknowledged_changes_survive_sigkill(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    // The people, written straight to the database before the server process starts.
    seed_standard(&db.url, 25).await?;
    let server = ServerProcess::start(SERVER, &db.url)?;

    let mut r = rng(11);
    let mut devices: Vec<Arc<Mutex<Device>>> = Vec::new();
    for d in 0..DEVICES {
        // One worker's four devices, each with its own actor.
        let raw = RawDevice::login(&server.url(), "sw-a", fieldnotes_tests::PASSWORD).await?;
        let docs = (0..DOCS_PER_DEVICE)
            .map(|i| raw.create(visit_note(&mut r, d * 10 + i, "sw-a")))
            .collect::<anyhow::Result<_>>()?;
        devices.push(Arc::new(Mutex::new(Device {
            name: format!("device-{d}"),
            raw,
            docs,
            acked: BTreeSet::new(),
        })));
    }

    let acks = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let mut writers = Vec::new();
    for (d, device) in devices.iter().enumerate() {
        let (device, acks, enough) = (device.clone(), acks.clone(), enough.clone());
        writers.push(tokio::spawn(async move {
            let mut r = rng(100 + d as u64);
            // Push bursts until the server disappears; every answer is recorded.
            for round in 0..10_000u64 {
                let mut device = device.lock().await;
                let i = (round as usize) % DOCS_PER_DEVICE;
                let body = words(&mut r, 120);
                let patch = VisitNotePatch {
                    body: Some(body),
                    ..Default::default()
                };
                device.docs[i]
                    .edit(Patch::VisitNote(patch), 1_763_900_000_000 + round as i64)
                    .unwrap();
                let unacked: Vec<Vec<u8>> = device.docs[i]
                    .all_changes()
                    .into_iter()
                    .filter(|c| !device.acked.contains(&hash_hex(&c.hash)))
                    .map(|c| c.bytes)
                    .collect();
                let id = device.docs[i].id().to_owned();
                match device
                    .raw
                    .sync_round(vec![raw_push(&id, unacked)], None)
                    .await
                {
                    Ok(response) => {
                        for result in response.results {
                            if let PushOutcome::Accepted { hashes } = result.outcome {
                                device.acked.extend(hashes);
                            } else {
                                panic!("a valid push was not accepted: {result:?}");
                            }
                        }
                        if acks.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER_ACKS {
                            enough.notify_one();
                        }
                    }
                    Err(_) => return,
                }
            }
        }));
    }

    enough.notified().await;
    server.kill()?;
    for writer in writers {
        writer.await?;
    }

    // Restarted on a new port; the devices' sessions live in the database and still hold.
    let server = ServerProcess::start(SERVER, &db.url)?;
    for device in &devices {
        device.lock().await.raw.base = server.url();
    }
    for device in &devices {
        let device = device.lock().await;
        let mut stored = BTreeSet::new();
        for doc in &device.docs {
            let answer = device
                .raw
                .get(&format!("/v1/documents/{}/changes", doc.id()))
                .await?;
            if answer.status == 404 {
                continue;
            }
            let history: Vec<serde_json::Value> = answer.json()?;
            stored.extend(
                history
                    .iter()
                    .filter_map(|c| c["hash"].as_str().map(str::to_owned)),
            );
        }
        let lost: Vec<&String> = device.acked.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "{}: acknowledged but lost after SIGKILL: {lost:?}",
            device.name
        );
    }

    // Every device pushes what it holds; afterwards the server has exactly the devices' state.
    for device in &devices {
        let mut device = device.lock().await;
        let push = device.docs.iter_mut().map(push_all).collect();
        let response = device.raw.sync_round(push, None).await?;
        assert!(all_accepted(&response), "{:?}", response.results);
        let mut server_heads: HashMap<String, Vec<String>> = HashMap::new();
        for doc in &device.docs {
            let view: serde_json::Value = device
                .raw
                .get(&format!("/v1/documents/{}", doc.id()))
                .await?
                .json()?;
            let heads = view["heads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_owned())
                .collect();
            server_heads.insert(doc.id().to_owned(), heads);
        }
        for doc in &mut device.docs {
            let mut local: Vec<String> = doc.heads().iter().map(hash_hex).collect();
            let mut remote = server_heads[doc.id()].clone();
            local.sort();
            remote.sort();
            assert_eq!(local, remote, "document {} did not converge", doc.id());
        }
    }
    server.kill()
}

on_both_backends!(acknowledged_changes_survive_sigkill);
