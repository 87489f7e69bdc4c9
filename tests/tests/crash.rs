//! Invariant 2 end to end: the server process is killed with SIGKILL in the middle of a burst
//! of pushes and restarted on the same database. Every change it acknowledged is there, and the
//! devices converge with it after pushing again what was not acknowledged.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use fieldnotes_model::{Document, Patch, VisitNotePatch, hash_hex};
use fieldnotes_protocol::PushOutcome;
use fieldnotes_tests::fixtures::{rng, visit_note, words};
use fieldnotes_tests::wire::sync_round;
use fieldnotes_tests::{Backend, ServerProcess, TestDb};
use tokio::sync::{Mutex, Notify};

const SERVER: &str = env!("CARGO_BIN_EXE_fieldnotes-test-server");
const DEVICES: usize = 4;
const DOCS_PER_DEVICE: usize = 6;
/// Kill the server once this many pushes have been acknowledged.
const KILL_AFTER_ACKS: usize = 40;

/// What one device holds: its documents and which of its changes the server acknowledged.
struct Device {
    name: String,
    docs: Vec<Document>,
    acked: BTreeSet<String>,
}

async fn acknowledged_changes_survive_sigkill(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let server = ServerProcess::start(SERVER, &db.url)?;
    let url = server.url();

    let mut r = rng(11);
    let devices: Vec<Arc<Mutex<Device>>> = (0..DEVICES)
        .map(|d| {
            let docs = (0..DOCS_PER_DEVICE)
                .map(|i| create(visit_note(&mut r, d * 10 + i, "sw")))
                .collect();
            Arc::new(Mutex::new(Device {
                name: format!("device-{d}"),
                docs,
                acked: BTreeSet::new(),
            }))
        })
        .collect();

    let acks = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let mut writers = Vec::new();
    for (d, device) in devices.iter().enumerate() {
        let (device, url, acks, enough) =
            (device.clone(), url.clone(), acks.clone(), enough.clone());
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
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
                let name = device.name.clone();
                match sync_round(&http, &url, &name, vec![raw_push(&id, unacked)], None).await {
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

    let server = ServerProcess::start(SERVER, &db.url)?;
    let http = reqwest::Client::new();
    for device in &devices {
        let device = device.lock().await;
        let mut stored = BTreeSet::new();
        for doc in &device.docs {
            let answer = http
                .get(format!(
                    "{}/v1/documents/{}/changes",
                    server.url(),
                    doc.id()
                ))
                .send()
                .await?;
            if answer.status() == 404 {
                continue;
            }
            let history: Vec<serde_json::Value> = answer.error_for_status()?.json().await?;
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
        let name = device.name.clone();
        let push = device
            .docs
            .iter_mut()
            .map(|doc| {
                let changes = doc.all_changes();
                push_doc(doc.id(), &changes)
            })
            .collect();
        let response = sync_round(&http, &server.url(), &name, push, None).await?;
        assert!(
            response
                .results
                .iter()
                .all(|r| matches!(r.outcome, PushOutcome::Accepted { .. }))
        );
        let mut server_heads: HashMap<String, Vec<String>> = HashMap::new();
        for doc in &device.docs {
            let view: serde_json::Value = http
                .get(format!("{}/v1/documents/{}", server.url(), doc.id()))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
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
