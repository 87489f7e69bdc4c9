//! Issue 9, must-show 1: hostile changes over a real socket, on both backends. Each is a change
//! any signed-in device could send to a record it may write. Each must be refused with its own
//! code and kept in quarantine; the record must still load and take a legitimate edit; the
//! other document in the same push must land; and the server (in this process) must never
//! panic, which a panic hook installed below watches.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(clippy::unwrap_used)]

mod common;

use std::num::NonZeroU64;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType, SortedVec};
use automerge::transaction::Transactable;
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ExpandedChange, ObjId, ROOT, ReadDoc, ScalarValue,
};
use fieldnotes_model::Document;
use fieldnotes_protocol::{QuarantineList, RejectCode};
use fieldnotes_tests::check::{accepted, assert_rejected};
use fieldnotes_tests::craft::{ChangeParts, Rle, col, one_run_each, op_bomb};
use fieldnotes_tests::fixtures::{self, rng, visit_note};
use fieldnotes_tests::wire::{push_all, push_doc, raw_push};
use fieldnotes_tests::{Backend, TestServer};

/// Panics seen outside the test code itself (the server runs in this process).
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);
static PANIC_SITES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn watch_for_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let site = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            // An assertion failing in a test (or in the test support library's checks) is the
            // test's own business; anything else is the server (or automerge inside it)
            // panicking.
            if !site.contains("tests/tests/") && !site.contains("tests/src/") {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut sites) = PANIC_SITES.lock() {
                    sites.push(format!("{site}: {info}"));
                }
            }
            previous(info);
        }));
    });
}

fn assert_no_server_panic() {
    assert_eq!(
        SERVER_PANICS.load(Ordering::SeqCst),
        0,
        "the server panicked: {:?}",
        PANIC_SITES.lock().map(|s| s.clone()).unwrap_or_default()
    );
}

/// A stored note and the facts a crafted change needs about it.
struct Target {
    doc: Document,
    actor: ActorId,
}

impl Target {
    /// The note as plain automerge, writing as the device.
    fn automerge(&mut self) -> AutoCommit {
        AutoCommit::load(&self.doc.save())
            .unwrap()
            .with_actor(self.actor.clone())
    }

    /// The change plain automerge makes for `edit`, uncompressed.
    fn change(&mut self, edit: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
        let mut am = self.automerge();
        let before = am.get_heads();
        edit(&mut am);
        am.commit();
        let changes = am.get_changes(&before);
        assert_eq!(changes.len(), 1);
        changes[0].raw_bytes().to_vec()
    }

    /// A change setting the title: one op.
    fn one_op_change(&mut self) -> ChangeParts {
        ChangeParts::parse(&self.change(|am| {
            am.put(ROOT, "title", "Home visit, revised").unwrap();
        }))
        .unwrap()
    }

    /// The next change of the device, as automerge would number it, holding `ops`.
    fn expanded(&mut self, ops: Vec<automerge::legacy::Op>) -> Vec<u8> {
        let mut am = self.automerge();
        let heads: Vec<ChangeHash> = am.get_heads();
        let meta = am.get_changes_meta(&[]);
        let seq = meta.iter().filter(|m| *m.actor == self.actor).count() as u64 + 1;
        let start = meta.iter().map(|m| m.max_op).max().unwrap_or(0) + 1;
        let change = Change::from(ExpandedChange {
            operations: ops,
            actor_id: self.actor.clone(),
            hash: None,
            seq,
            start_op: NonZeroU64::new(start).unwrap(),
            time: 1_763_900_100_000,
            message: None,
            deps: heads,
            extra_bytes: Vec::new(),
            author: None,
        });
        change.raw_bytes().to_vec()
    }
}

/// `id` ("counter@actor") as a legacy op id.
fn op_id(id: &ObjId) -> OpId {
    let text = id.to_string();
    let (counter, actor) = text.split_once('@').unwrap();
    OpId::new(
        counter.parse().unwrap(),
        &ActorId::from(hex_decode(actor).as_slice()),
    )
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Push `craft`'s bytes for a stored note together with a good new note, and check the whole
/// contract: refused with `code`, quarantined, the record unchanged and still editable, the
/// other note stored, no panic.
async fn refused_and_recovers(
    backend: Backend,
    code: RejectCode,
    craft: impl FnOnce(&mut Target) -> Vec<u8>,
) -> anyhow::Result<()> {
    watch_for_panics();
    let (_db, server) = TestServer::standard(backend, 3).await?;
    let device = server.device("sw-a").await?;
    let admin = server.device("admin").await?;
    let mut r = rng(9);

    let mut target = Target {
        doc: device.create(visit_note(&mut r, 0, "sw-a"))?,
        actor: device.actor.clone(),
    };
    let first = device
        .sync_round(vec![push_all(&mut target.doc)], None)
        .await?;
    assert!(accepted(&first, 0));
    let shown_before = device
        .get(&format!("/v1/documents/{}", target.doc.id()))
        .await?;
    assert_eq!(shown_before.status, 200);

    let hostile = craft(&mut target);
    let mut other = device.create(visit_note(&mut r, 1, "sw-a"))?;
    let response = device
        .sync_round(
            vec![
                raw_push(target.doc.id(), vec![hostile.clone()]),
                push_all(&mut other),
            ],
            None,
        )
        .await?;
    // Refused, saying the record is untouched, and kept.
    assert_rejected(&response, 0, code, "nothing of the record was changed");
    assert!(
        accepted(&response, 1),
        "the other document in the push lands: {:?}",
        response.results[1]
    );

    // Kept in quarantine, byte for byte.
    let list: QuarantineList = admin.get("/v1/quarantine").await?.json()?;
    let item = list
        .items
        .iter()
        .find(|i| i.doc_id.as_deref() == Some(target.doc.id()))
        .expect("a quarantine item for the record");
    assert_eq!(item.code, code.as_str());
    let payload = admin
        .get(&format!("/v1/quarantine/{}/payload", item.id))
        .await?
        .body;
    let kept: fieldnotes_protocol::PushDoc = serde_json::from_slice(&payload)?;
    assert_eq!(kept.changes[0].as_slice(), hostile.as_slice());

    // The record is as it was, and still loads.
    let shown = device
        .get(&format!("/v1/documents/{}", target.doc.id()))
        .await?;
    assert_eq!(
        shown.status,
        200,
        "{}",
        String::from_utf8_lossy(&shown.body)
    );
    assert_eq!(shown.body, shown_before.body);
    let other_shown = device.get(&format!("/v1/documents/{}", other.id())).await?;
    assert_eq!(other_shown.status, 200);

    // A legitimate edit still lands.
    let edit = target
        .doc
        .edit(
            fixtures::title("Home visit after school"),
            1_763_900_200_000,
        )?
        .unwrap();
    let response = device
        .sync_round(vec![push_doc(target.doc.id(), &[edit])], None)
        .await?;
    assert!(accepted(&response, 0), "{:?}", response.results[0]);
    let shown = device
        .get(&format!("/v1/documents/{}", target.doc.id()))
        .await?;
    assert_eq!(shown.status, 200);
    assert!(String::from_utf8_lossy(&shown.body).contains("Home visit after school"));

    assert_no_server_panic();
    server.stop().await
}

/// Two equal actions written as two runs of one instead of one run of two.
async fn non_canonical_runs(backend: Backend) -> anyhow::Result<()> {
    refused_and_recovers(backend, RejectCode::NonCanonicalChange, |t| {
        let mut parts = ChangeParts::parse(&t.change(|am| {
            am.put(ROOT, "title", "Home visit, revised").unwrap();
            am.put(ROOT, "occurred_at", "2026-11-21T10:00:00Z").unwrap();
        }))
        .unwrap();
        let action = parts.column_mut(col::ACTION).unwrap();
        let split = one_run_each(action).unwrap();
        assert_ne!(*action, split, "the crafted column must differ");
        *action = split;
        parts.encode()
    })
    .await
}

/// An actor listed in the change that no op uses: automerge never writes one.
async fn non_canonical_actor_table(backend: Backend) -> anyhow::Result<()> {
    refused_and_recovers(backend, RejectCode::NonCanonicalChange, |t| {
        let mut parts = t.one_op_change();
        parts.other_actors.push(vec![0xee; 16]);
        parts.encode()
    })
    .await
}

/// A checksum that does not match the change's contents.
async fn non_canonical_checksum(backend: Backend) -> anyhow::Result<()> {
    refused_and_recovers(backend, RejectCode::NonCanonicalChange, |t| {
        let mut parts = t.one_op_change();
        parts.checksum_override = Some([0, 0, 0, 0]);
        parts.encode()
    })
    .await
}

/// An op column automerge does not know (id 15, an integer column).
async fn unknown_column(backend: Backend) -> anyhow::Result<()> {
    refused_and_recovers(backend, RejectCode::UnknownColumns, |t| {
        let mut parts = t.one_op_change();
        parts
            .columns
            .push((15 << 4 | 2, Rle::default().run(1, 7).0));
        parts.encode()
    })
    .await
}

/// Text inserted into `9@<another actor>`, an object no change created (the example:
/// automerge panicked on it).
async fn dangling_object(backend: Backend) -> anyhow::Result<()> {
    refused_and_recovers(backend, RejectCode::DanglingReference, |t| {
        let other = ActorId::from([0x42; 16].as_slice());
        t.expanded(vec![automerge::legacy::Op {
            action: OpType::Put(ScalarValue::Str("x".into())),
            obj: ObjectId::Id(OpId::new(9, &other)),
            key: Key::Seq(ElementId::Head),
            pred: SortedVec::new(),
            insert: true,
        }])
    })
    .await
}

/// Text inserted into the note's body after an "element" that is really the op that set the
/// title: it exists, but it is not an element of the body.
async fn dangling_element(backend: Backend) -> anyhow::Result<()> {
    refused_and_recovers(backend, RejectCode::DanglingReference, |t| {
        let am = t.automerge();
        let (_, body) = am.get(ROOT, "body").unwrap().unwrap();
        let (_, title_op) = am.get(ROOT, "title").unwrap().unwrap();
        t.expanded(vec![automerge::legacy::Op {
            action: OpType::Put(ScalarValue::Str("x".into())),
            obj: ObjectId::Id(op_id(&body)),
            key: Key::Seq(ElementId::Id(op_id(&title_op))),
            pred: SortedVec::new(),
            insert: true,
        }])
    })
    .await
}

/// A change that declares a million ops in its action column but carries data for one. It
/// must be refused as `too_many_ops`: a server that expanded the ops before counting them
/// would find the other columns short and answer `malformed_change` instead (after the work).
async fn op_bomb_counted_before_expanding(backend: Backend) -> anyhow::Result<()> {
    refused_and_recovers(backend, RejectCode::TooManyOps, |t| {
        let mut parts = t.one_op_change();
        *parts.column_mut(col::ACTION).unwrap() = Rle::default().run(1_000_000, 1).0;
        let bytes = parts.encode();
        assert!(bytes.len() < 300, "{} bytes", bytes.len());
        bytes
    })
    .await
}

/// A fully valid change of a million ops (a list, then a million nulls inserted into it) in a
/// few hundred bytes.
async fn op_bomb_valid(backend: Backend) -> anyhow::Result<()> {
    refused_and_recovers(backend, RejectCode::TooManyOps, |t| {
        let template = t.one_op_change();
        let bytes = op_bomb(&template, 1_000_000).encode();
        assert!(bytes.len() < 300, "{} bytes", bytes.len());
        bytes
    })
    .await
}

on_both_backends!(
    non_canonical_runs,
    non_canonical_actor_table,
    non_canonical_checksum,
    unknown_column,
    dangling_object,
    dangling_element,
    op_bomb_counted_before_expanding,
    op_bomb_valid,
);

/// The crafted bomb is a real change: the same recipe with a thousand ops is accepted by
/// automerge and holds a thousand ops (so the million-op one is refused for its size, not for
/// being garbage).
#[test]
fn the_op_bomb_recipe_is_a_valid_change() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "x", 1).unwrap();
    doc.commit();
    let template = ChangeParts::parse(doc.get_changes(&[])[0].raw_bytes()).unwrap();
    let small = op_bomb(&template, 1_000).encode();
    let change = Change::try_from(small.as_slice()).unwrap();
    assert_eq!(change.len(), 1_000);
    let mut applied = AutoCommit::new();
    applied.apply_changes([change]).unwrap();
    let (_, list) = applied.get(ROOT, "bomb").unwrap().unwrap();
    assert_eq!(applied.length(&list), 999);
}
