//! Scope keys: the unit of who may see and write records.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which records a document belongs to for access: every record about one child, one worker's
/// own records, or (held by admins only) everything. On the wire and in the database it is
/// text: `child:<id>`, `worker:<id>` or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum ScopeKey {
    /// Every document (an admin's scope).
    All,
    /// Records about the child or young person with this id.
    Child(String),
    /// A worker's own records ("about me" and contact card) by user id.
    Worker(String),
}

/// Text that is not a scope key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a scope key; use child:<id>, worker:<id> or *")]
pub struct ScopeKeyError(pub String);

impl ScopeKey {
    /// The text of [`ScopeKey::All`].
    pub const ALL_TEXT: &'static str = "*";
    /// Prefix of the scope key of records about a child.
    pub const CHILD_PREFIX: &'static str = "child:";
    /// Prefix of the scope key of a worker's own records.
    pub const WORKER_PREFIX: &'static str = "worker:";

    /// The scope key of records about child `id`.
    pub fn child(id: impl Into<String>) -> ScopeKey {
        ScopeKey::Child(id.into())
    }

    /// The scope key of worker `id`'s own records.
    pub fn worker(id: impl Into<String>) -> ScopeKey {
        ScopeKey::Worker(id.into())
    }

    /// The child this key is about, if it is a child's.
    pub fn child_id(&self) -> Option<&str> {
        match self {
            ScopeKey::Child(id) => Some(id),
            _ => None,
        }
    }

    /// The worker whose own records this key holds, if it is a worker's.
    pub fn worker_id(&self) -> Option<&str> {
        match self {
            ScopeKey::Worker(id) => Some(id),
            _ => None,
        }
    }

    /// Whether `text` is the key of every document (`*`), without parsing it.
    pub fn is_all_text(text: &str) -> bool {
        text == Self::ALL_TEXT
    }
}

impl FromStr for ScopeKey {
    type Err = ScopeKeyError;

    fn from_str(s: &str) -> Result<Self, ScopeKeyError> {
        let bad = || ScopeKeyError(s.to_owned());
        if s == Self::ALL_TEXT {
            return Ok(ScopeKey::All);
        }
        let (make, id): (fn(String) -> ScopeKey, &str) =
            if let Some(id) = s.strip_prefix(Self::CHILD_PREFIX) {
                (ScopeKey::Child, id)
            } else if let Some(id) = s.strip_prefix(Self::WORKER_PREFIX) {
                (ScopeKey::Worker, id)
            } else {
                return Err(bad());
            };
        if id.is_empty() {
            return Err(bad());
        }
        Ok(make(id.to_owned()))
    }
}

impl TryFrom<String> for ScopeKey {
    type Error = ScopeKeyError;

    fn try_from(s: String) -> Result<Self, ScopeKeyError> {
        s.parse()
    }
}

impl From<ScopeKey> for String {
    fn from(key: ScopeKey) -> String {
        key.to_string()
    }
}

impl fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeKey::All => f.write_str(Self::ALL_TEXT),
            ScopeKey::Child(id) => write!(f, "{}{id}", Self::CHILD_PREFIX),
            ScopeKey::Worker(id) => write!(f, "{}{id}", Self::WORKER_PREFIX),
        }
    }
}
