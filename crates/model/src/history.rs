//! A document's history: every version with who, which device, when and what changed, and the
//! record as it was at any version.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::{ChangeHash, ReadDoc};
use serde::Serialize;
use serde_json::Value as Json;

use crate::document::Document;
use crate::error::ModelError;
use crate::lock::amendment_reason;
use crate::read::{read_deletion, read_record};
use crate::record::Record;

/// One change of a document, as history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    /// The change's hash: the version after it is `heads = [hash]`.
    pub hash: ChangeHash,
    /// The device's actor id, hex (the server maps it to the device and its user).
    pub actor: String,
    /// The device's clock when the change was made, ms since the epoch.
    pub device_time_ms: i64,
    /// The change's message (see [`crate::EncodedChange::message`]).
    pub message: Option<String>,
    /// The reason, when the change is an amendment.
    pub amendment: Option<String>,
    /// The changes it builds on: the version before it is `heads = deps`.
    pub deps: Vec<ChangeHash>,
    /// The record fields whose value differs between the version before and after this
    /// change (`deleted` for a deletion); every field for the creating change.
    pub changed: Vec<String>,
}

/// The record's fields and its deletion marker at one version, as JSON values by field name.
type Snapshot = BTreeMap<String, Json>;

impl Document {
    /// The changes a change builds on (the version just before it), if it is in the document.
    pub fn deps_of(&mut self, hash: &ChangeHash) -> Option<Vec<ChangeHash>> {
        Some(self.doc.get_change_meta_by_hash(hash)?.deps)
    }

    /// Who wrote a change and when by their clock: its actor (hex) and device time (ms).
    pub fn change_info(&mut self, hash: &ChangeHash) -> Option<(String, i64)> {
        let change = self.doc.get_change_meta_by_hash(hash)?;
        Some((change.actor.to_hex_string(), change.timestamp))
    }

    /// The typed record as it was at `heads`. Fails if a head is not in the document, or if
    /// the record could not be read at that version.
    pub fn read_at(&self, heads: &[ChangeHash]) -> Result<Record, ModelError> {
        self.check_heads(heads)?;
        let (record, errors) = read_record(&self.doc, &self.id, self.kind, Some(heads));
        if errors.is_empty() {
            Ok(record)
        } else {
            Err(crate::ValidationErrors(errors).into())
        }
    }

    /// One field of the record as text at `heads` — a note's body, a title, a list one entry a
    /// line, `deleted` as `by: reason` — to show a version or diff two
    /// ([`crate::text_diff`]). Absent values read as empty text.
    pub fn field_text_at(&self, heads: &[ChangeHash], field: &str) -> Result<String, ModelError> {
        self.check_heads(heads)?;
        let snapshot = self.snapshot(Some(heads));
        match snapshot.get(field) {
            Some(value) => Ok(render(value)),
            None => Err(ModelError::UnknownField {
                kind: self.kind,
                field: field.to_owned(),
                valid: snapshot.keys().cloned().collect::<Vec<_>>().join(", "),
            }),
        }
    }

    /// Every change in causal order (each after the changes it depends on), with who wrote
    /// it, when by the device's clock, its amendment reason and the fields it changed.
    pub fn history(&mut self) -> Vec<Version> {
        let metas: Vec<_> = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| {
                let message = m.message.map(|s| s.into_owned());
                Version {
                    hash: m.hash,
                    actor: m.actor.to_hex_string(),
                    device_time_ms: m.timestamp,
                    amendment: amendment_reason(message.as_deref()).map(str::to_owned),
                    message,
                    deps: m.deps,
                    changed: Vec::new(),
                }
            })
            .collect();
        let mut versions = causal_order(metas);
        let mut cache: HashMap<Vec<ChangeHash>, Snapshot> = HashMap::new();
        let mut at = |heads: &[ChangeHash]| -> Snapshot {
            let mut key = heads.to_vec();
            key.sort();
            cache
                .entry(key)
                .or_insert_with(|| self.snapshot(Some(heads)))
                .clone()
        };
        for v in &mut versions {
            let after = at(&[v.hash]);
            if v.deps.is_empty() {
                v.changed = after
                    .iter()
                    .filter(|(_, value)| !value.is_null())
                    .map(|(k, _)| k.clone())
                    .collect();
                continue;
            }
            let before = at(&v.deps);
            let keys: std::collections::BTreeSet<&String> =
                before.keys().chain(after.keys()).collect();
            v.changed = keys
                .into_iter()
                .filter(|k| before.get(*k) != after.get(*k))
                .cloned()
                .collect();
        }
        versions
    }

    /// The record's fields (without `id` and `kind`) and `deleted`, at `heads` or now.
    fn snapshot(&self, heads: Option<&[ChangeHash]>) -> Snapshot {
        let (record, _) = read_record(&self.doc, &self.id, self.kind, heads);
        let (deleted, _) = read_deletion(&self.doc, heads);
        let mut fields = match serde_json::to_value(&record) {
            Ok(Json::Object(map)) => map.into_iter().collect::<Snapshot>(),
            _ => Snapshot::new(),
        };
        fields.remove("id");
        fields.remove("kind");
        fields.insert(
            "deleted".to_owned(),
            serde_json::to_value(deleted).unwrap_or(Json::Null),
        );
        fields
    }

    fn check_heads(&self, heads: &[ChangeHash]) -> Result<(), ModelError> {
        match heads
            .iter()
            .find(|h| self.doc.get_change_by_hash(h).is_none())
        {
            Some(h) => Err(ModelError::UnknownVersion(h.to_string())),
            None => Ok(()),
        }
    }
}

/// Order versions so each comes after its dependencies, keeping automerge's order otherwise.
fn causal_order(versions: Vec<Version>) -> Vec<Version> {
    let present: HashSet<ChangeHash> = versions.iter().map(|v| v.hash).collect();
    let mut placed: HashSet<ChangeHash> = HashSet::new();
    let mut pending = versions;
    let mut out = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = out.len();
        let mut rest = Vec::new();
        for v in pending {
            if v.deps
                .iter()
                .all(|d| placed.contains(d) || !present.contains(d))
            {
                placed.insert(v.hash);
                out.push(v);
            } else {
                rest.push(v);
            }
        }
        if out.len() == before {
            // A cycle cannot happen in a hash graph; keep what is left rather than loop.
            out.extend(rest);
            break;
        }
        pending = rest;
    }
    out
}

fn render(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::Array(items) => items.iter().map(render).collect::<Vec<_>>().join("\n"),
        Json::Object(map) => match (map.get("by"), map.get("reason"), map.get("media_type")) {
            (Some(by), Some(reason), _) => format!("{}: {}", render(by), render(reason)),
            (_, _, Some(media_type)) => {
                let n = map
                    .get("bytes")
                    .and_then(Json::as_array)
                    .map_or(0, Vec::len);
                format!("picture ({}, {n} bytes)", render(media_type))
            }
            _ => value.to_string(),
        },
    }
}
