//! Shared by the end-to-end test files.
#![allow(dead_code)]

use automerge::ActorId;
use fieldnotes_model::{Document, EncodedChange, NewRecord};
use fieldnotes_protocol::{ChangeBytes, PushDoc};

/// Run each named `async fn(Backend)` as a test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(fieldnotes_tests::Backend::Sqlite).await.unwrap();
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(fieldnotes_tests::Backend::Postgres).await.unwrap();
                }
            )*
        }
    };
}

pub fn actor() -> ActorId {
    ActorId::from(uuid::Uuid::new_v4().as_bytes().as_slice())
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new document with its creating change.
pub fn create(record: NewRecord) -> Document {
    Document::create(&new_id(), actor(), record, 1_763_900_000_000).unwrap()
}

pub fn push_doc(doc_id: &str, changes: &[EncodedChange]) -> PushDoc {
    PushDoc {
        doc_id: doc_id.to_owned(),
        changes: changes
            .iter()
            .map(|c| ChangeBytes(c.bytes.clone()))
            .collect(),
    }
}

pub fn raw_push(doc_id: &str, changes: Vec<Vec<u8>>) -> PushDoc {
    PushDoc {
        doc_id: doc_id.to_owned(),
        changes: changes.into_iter().map(ChangeBytes).collect(),
    }
}
