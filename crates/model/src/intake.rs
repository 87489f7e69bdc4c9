//! Intake: every pushed change is checked before it touches stored state.
//!
//! A device can send any bytes. Automerge 0.12 accepts changes that it cannot store faithfully
//! (columns encoded in a form it would never write, columns it does not know), panics on ops
//! that point at objects nobody created, and expands run-length-encoded op columns without a
//! limit. So before [`crate::merge_incoming`] applies anything, each change goes through:
//!
//! 1. [`scan`]: the chunk header and column table are read by hand, without expanding a single
//!    op. Compressed chunks are inflated with a size limit; only the columns automerge itself
//!    writes are allowed ([`IntakeError::UnknownColumns`]); the number of ops (the run lengths
//!    of the action column) and of predecessors (the sum of the pred group column) are counted
//!    and capped per change and per push ([`IntakeError::TooManyOps`]); every actor index in
//!    the op columns must name an actor of the change.
//! 2. [`parse`]: only then is the change decoded, and it must re-encode to exactly the same
//!    bytes, and so the same hash ([`IntakeError::NonCanonical`]). A change that does not would
//!    be stored under one hash and come back under another when the document is reloaded.
//! 3. [`check_references`]: each op may refer only to objects, list elements and predecessor
//!    ops that exist in its own causal past: in the stored document or in an earlier change of
//!    the push it depends on ([`IntakeError::DanglingReference`]).
//! 4. [`check_reload`], after merging: the new changes, rebuilt from the merged document the way
//!    a reload rebuilds them, have the same hashes ([`IntakeError::Inconsistent`]).
//!
//! Pure: no I/O, no clock.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Read;

use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType};
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ExpandedChange, ObjType, ReadDoc};

/// Most ops one change may declare. The largest record the validation rules allow (a
/// 100,000-character body, its 20,000-character fields, a picture) is written by one change
/// of about this size; ordinary edits are a few hundred ops.
pub const MAX_OPS_PER_CHANGE: u64 = 150_000;
/// Most ops all the changes for one document in one push may declare together.
pub const MAX_OPS_PER_PUSH: u64 = 300_000;
/// Largest change, in bytes once inflated (a picture of 512 KiB and the longest texts fit).
pub const MAX_CHANGE_BYTES: usize = 8 * 1024 * 1024;
/// Largest total of inflated change bytes for one document in one push.
pub const MAX_PUSH_BYTES: usize = 16 * 1024 * 1024;

/// The limits intake enforces; [`IntakeLimits::DEFAULT`] holds the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeLimits {
    pub max_ops_per_change: u64,
    pub max_ops_per_push: u64,
    pub max_change_bytes: usize,
    pub max_push_bytes: usize,
}

impl IntakeLimits {
    pub const DEFAULT: IntakeLimits = IntakeLimits {
        max_ops_per_change: MAX_OPS_PER_CHANGE,
        max_ops_per_push: MAX_OPS_PER_PUSH,
        max_change_bytes: MAX_CHANGE_BYTES,
        max_push_bytes: MAX_PUSH_BYTES,
    };
}

impl Default for IntakeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why intake refused a push. `index` is the change's position in the push.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("change {index} of the push is not a valid automerge change: {reason}")]
    Malformed { index: usize, reason: String },
    #[error(
        "change {index} of the push carries op columns this server does not know ({columns}); it \
         was written by software that does not match this server"
    )]
    UnknownColumns { index: usize, columns: String },
    #[error(
        "change {index} of the push ({hash}) is not in automerge's canonical encoding: {reason}; \
         stored, it would come back under another hash"
    )]
    NonCanonical {
        index: usize,
        hash: String,
        reason: String,
    },
    #[error("change {index} of the push ({hash}) {reason}")]
    DanglingReference {
        index: usize,
        hash: String,
        reason: String,
    },
    #[error("{what} declares {declared} operations or more; the server accepts at most {limit}")]
    TooManyOps {
        what: String,
        declared: u64,
        limit: u64,
    },
    #[error("{what} is {size} bytes or more once inflated; the server accepts at most {limit}")]
    TooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
    #[error("the merged document would not reload to the same state: {0}")]
    Inconsistent(String),
}

impl From<IntakeError> for crate::MergeError {
    fn from(e: IntakeError) -> Self {
        match e {
            // Unreadable bytes read as they always have.
            IntakeError::Malformed { index, reason } => {
                crate::MergeError::Malformed { index, reason }
            }
            other => crate::MergeError::Intake(other),
        }
    }
}

/// A change that passed [`scan`]: its uncompressed chunk bytes and how many ops it declares.
#[derive(Debug)]
pub struct Scanned<'a> {
    pub chunk: Cow<'a, [u8]>,
    pub ops: u64,
}

/// A change that passed [`parse`], with its decoded ops for [`check_references`].
#[derive(Debug)]
pub struct Parsed {
    pub index: usize,
    pub change: Change,
    pub expanded: ExpandedChange,
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;

// Column specs automerge 0.12 writes in a change: `id << 4 | type` (bit 3, deflate, unset).
const COL_OBJ_ACTOR: u32 = 1;
const COL_OBJ_CTR: u32 = 2;
const COL_KEY_ACTOR: u32 = 0x11;
const COL_KEY_CTR: u32 = 0x13;
const COL_KEY_STR: u32 = 0x15;
const COL_INSERT: u32 = 0x34;
const COL_ACTION: u32 = 0x42;
const COL_VAL_META: u32 = 0x56;
const COL_VAL_RAW: u32 = 0x57;
const COL_PRED_GROUP: u32 = 0x70;
const COL_PRED_ACTOR: u32 = 0x71;
const COL_PRED_CTR: u32 = 0x73;
const COL_EXPAND: u32 = 0x94;
const COL_MARK_NAME: u32 = 0xa5;
const KNOWN_COLUMNS: [u32; 14] = [
    COL_OBJ_ACTOR,
    COL_OBJ_CTR,
    COL_KEY_ACTOR,
    COL_KEY_CTR,
    COL_KEY_STR,
    COL_INSERT,
    COL_ACTION,
    COL_VAL_META,
    COL_VAL_RAW,
    COL_PRED_GROUP,
    COL_PRED_ACTOR,
    COL_PRED_CTR,
    COL_EXPAND,
    COL_MARK_NAME,
];

/// Bytes read front to back; every read is checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "it ends early (wanted {n} bytes, {} left)",
                self.remaining()
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn uleb(&mut self) -> Result<u64, String> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 {
                return Err("a number is too large".into());
            }
            value |= low << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number is too long".into())
    }

    fn sleb(&mut self) -> Result<i64, String> {
        let mut value: i64 = 0;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            if shift >= 64 {
                return Err("a number is too long".into());
            }
            value |= i64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1_i64 << shift;
                }
                return Ok(value);
            }
        }
    }

    fn len(&mut self) -> Result<usize, String> {
        let n = self.uleb()?;
        usize::try_from(n).map_err(|_| "a length is too large".to_owned())
    }
}

/// Walk a run-length-encoded integer column, calling `f(count, value)` for each run (`None`
/// for a run of nulls). Stops with `f`'s error; never expands a run.
fn rle_runs<E: From<String>>(
    column: &[u8],
    f: impl FnMut(u64, Option<u64>) -> Result<(), E>,
) -> Result<(), E> {
    rle_runs_of(column, Reader::uleb, f)
}

/// [`rle_runs`] for a column whose values are `read` (unsigned, or signed deltas).
fn rle_runs_of<'c, T: Copy, E: From<String>>(
    column: &'c [u8],
    read: fn(&mut Reader<'c>) -> Result<T, String>,
    mut f: impl FnMut(u64, Option<T>) -> Result<(), E>,
) -> Result<(), E> {
    let mut r = Reader::new(column);
    while r.remaining() > 0 {
        let n = r.sleb()?;
        if n > 0 {
            let v = read(&mut r)?;
            f(n.unsigned_abs(), Some(v))?;
        } else if n < 0 {
            for _ in 0..n.unsigned_abs() {
                if r.remaining() == 0 {
                    return Err(E::from("a literal run ends early".to_owned()));
                }
                let v = read(&mut r)?;
                f(1, Some(v))?;
            }
        } else {
            let nulls = r.uleb()?;
            f(nulls, None)?;
        }
    }
    Ok(())
}

/// Automerge keeps op counters in 32 bits and panics on a larger one.
const MAX_COUNTER: i128 = u32::MAX as i128;

/// Check that every counter a delta column decodes to is in automerge's range, run by run.
fn delta_counters_in_range(column: &[u8]) -> Result<(), ScanError> {
    let mut absolute: i128 = 0;
    rle_runs_of(column, Reader::sleb, |count, delta| {
        if let Some(d) = delta {
            let first = absolute + i128::from(d);
            absolute += i128::from(d) * i128::from(count);
            if !(0..=MAX_COUNTER).contains(&first) || !(0..=MAX_COUNTER).contains(&absolute) {
                return Err(ScanError::Malformed("an op counter is out of range".into()));
            }
        }
        Ok(())
    })
}

/// What went wrong while scanning one change, before it is given its index.
enum ScanError {
    Malformed(String),
    Unknown(String),
    TooMany(u64),
    TooLarge(usize),
}

impl From<String> for ScanError {
    fn from(s: String) -> Self {
        ScanError::Malformed(s)
    }
}

/// Step 1 for a whole push: read each change's header and column table, inflate compressed
/// chunks within the byte limits, refuse unknown columns and count the ops, without decoding
/// any op.
pub fn scan<'a>(
    incoming: &'a [Vec<u8>],
    limits: &IntakeLimits,
) -> Result<Vec<Scanned<'a>>, IntakeError> {
    let mut total_ops: u64 = 0;
    let mut total_bytes: usize = 0;
    let mut out = Vec::with_capacity(incoming.len());
    for (index, bytes) in incoming.iter().enumerate() {
        let byte_budget = limits
            .max_change_bytes
            .min(limits.max_push_bytes.saturating_sub(total_bytes));
        let scanned =
            scan_one(bytes, limits.max_ops_per_change, byte_budget).map_err(|e| match e {
                ScanError::Malformed(reason) => IntakeError::Malformed { index, reason },
                ScanError::Unknown(columns) => IntakeError::UnknownColumns { index, columns },
                ScanError::TooMany(declared) => IntakeError::TooManyOps {
                    what: format!("change {index} of the push"),
                    declared,
                    limit: limits.max_ops_per_change,
                },
                ScanError::TooLarge(size) if byte_budget < limits.max_change_bytes => {
                    IntakeError::TooLarge {
                        what: "the push for this document".into(),
                        size: total_bytes.saturating_add(size),
                        limit: limits.max_push_bytes,
                    }
                }
                ScanError::TooLarge(size) => IntakeError::TooLarge {
                    what: format!("change {index} of the push"),
                    size,
                    limit: limits.max_change_bytes,
                },
            })?;
        total_ops = total_ops.saturating_add(scanned.ops);
        if total_ops > limits.max_ops_per_push {
            return Err(IntakeError::TooManyOps {
                what: "the push for this document".into(),
                declared: total_ops,
                limit: limits.max_ops_per_push,
            });
        }
        total_bytes = total_bytes.saturating_add(scanned.chunk.len());
        out.push(scanned);
    }
    Ok(out)
}

/// The number of ops `incoming` declares, read without decoding any op (for a caller that
/// budgets ops across documents).
pub fn declared_ops(incoming: &[Vec<u8>], limits: &IntakeLimits) -> Result<u64, IntakeError> {
    Ok(scan(incoming, limits)?.iter().map(|s| s.ops).sum())
}

fn scan_one(bytes: &[u8], max_ops: u64, max_bytes: usize) -> Result<Scanned<'_>, ScanError> {
    let mut r = Reader::new(bytes);
    if r.take(4)? != MAGIC {
        return Err(ScanError::Malformed(
            "it does not start with automerge's magic bytes".into(),
        ));
    }
    let checksum = r.take(4)?;
    let chunk_type = r.byte()?;
    let len = r.len()?;
    if len != r.remaining() {
        return Err(ScanError::Malformed(format!(
            "its header says {len} bytes follow, but {} do",
            r.remaining()
        )));
    }
    let data = r.take(len)?;
    let chunk: Cow<'_, [u8]> = match chunk_type {
        CHUNK_CHANGE => {
            if bytes.len() > max_bytes {
                return Err(ScanError::TooLarge(bytes.len()));
            }
            Cow::Borrowed(bytes)
        }
        CHUNK_COMPRESSED => {
            let mut inflated = Vec::new();
            let limit = u64::try_from(max_bytes)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            flate2::read::DeflateDecoder::new(data)
                .take(limit)
                .read_to_end(&mut inflated)
                .map_err(|e| ScanError::Malformed(format!("it does not inflate: {e}")))?;
            if inflated.len() > max_bytes {
                return Err(ScanError::TooLarge(inflated.len()));
            }
            let mut chunk = Vec::with_capacity(inflated.len() + 20);
            chunk.extend_from_slice(&MAGIC);
            chunk.extend_from_slice(checksum);
            chunk.push(CHUNK_CHANGE);
            let mut n = inflated.len() as u64;
            loop {
                let low = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    chunk.push(low);
                    break;
                }
                chunk.push(low | 0x80);
            }
            chunk.extend_from_slice(&inflated);
            Cow::Owned(chunk)
        }
        other => {
            return Err(ScanError::Malformed(format!(
                "it is a chunk of type {other}, not a change"
            )));
        }
    };
    let ops = scan_body(&chunk, max_ops)?;
    Ok(Scanned { chunk, ops })
}

/// Read the change body up to and through the column table; count ops and preds and check the
/// counters and actor indices, run by run.
fn scan_body(chunk: &[u8], max_ops: u64) -> Result<u64, ScanError> {
    let mut r = Reader::new(chunk);
    let header = read_change_header(&mut r)?;
    let columns = read_columns(&mut r)?;
    let ops = count_ops(columns.get(COL_ACTION), max_ops)?;
    count_preds(columns.get(COL_PRED_GROUP), max_ops)?;
    check_counters(&columns, header.start_op, ops)?;
    check_actor_indices(&columns, header.actors)?;
    Ok(ops)
}

/// What scanning needs from a change's header.
struct ChangeHeader {
    start_op: u64,
    /// How many actors the change lists (its own and the others).
    actors: u64,
}

/// Read a change chunk's header, through its list of other actors.
fn read_change_header(r: &mut Reader<'_>) -> Result<ChangeHeader, ScanError> {
    r.take(9)?;
    r.len()?;
    let deps = r.len()?;
    if deps > r.remaining() / 32 {
        return Err(ScanError::Malformed(
            "its dependency list ends early".into(),
        ));
    }
    r.take(deps * 32)?;
    let actor_len = r.len()?;
    r.take(actor_len)?;
    r.uleb()?; // seq
    let start_op = r.uleb()?;
    if start_op == 0 {
        return Err(ScanError::Malformed("its start op is 0".into()));
    }
    r.sleb()?; // time
    let message_len = r.len()?;
    r.take(message_len)?;
    let other_actors = r.len()?;
    if other_actors > r.remaining() {
        return Err(ScanError::Malformed("its actor list ends early".into()));
    }
    for _ in 0..other_actors {
        let n = r.len()?;
        r.take(n)?;
    }
    Ok(ChangeHeader {
        start_op,
        actors: other_actors as u64 + 1,
    })
}

/// A change's op columns by spec; a column the change leaves out is empty.
struct Columns<'a>(HashMap<u32, &'a [u8]>);

impl<'a> Columns<'a> {
    fn get(&self, spec: u32) -> &'a [u8] {
        self.0.get(&spec).copied().unwrap_or(&[])
    }
}

/// Read the column table and the columns: only known specs, each once.
fn read_columns<'a>(r: &mut Reader<'a>) -> Result<Columns<'a>, ScanError> {
    let columns = r.len()?;
    if columns > r.remaining() / 2 {
        return Err(ScanError::Malformed("its column table ends early".into()));
    }
    let mut specs = Vec::with_capacity(columns);
    for _ in 0..columns {
        let spec = r.uleb()?;
        let len = r.len()?;
        specs.push((spec, len));
    }
    let unknown: Vec<String> = specs
        .iter()
        .filter(|(spec, _)| !u32::try_from(*spec).is_ok_and(|s| KNOWN_COLUMNS.contains(&s)))
        .map(|(spec, _)| format!("column {} of type {}", spec >> 4, spec & 0x0f))
        .collect();
    if !unknown.is_empty() {
        return Err(ScanError::Unknown(unknown.join(", ")));
    }
    let mut data: HashMap<u32, &[u8]> = HashMap::new();
    for (spec, len) in specs {
        let bytes = r.take(len)?;
        // Known specs fit in u32 (checked above).
        let spec = u32::try_from(spec).unwrap_or(u32::MAX);
        if data.insert(spec, bytes).is_some() {
            return Err(ScanError::Malformed(format!(
                "column spec {spec} appears twice"
            )));
        }
    }
    Ok(Columns(data))
}

/// The number of ops (the run lengths of the action column), at most `max_ops`.
fn count_ops(action: &[u8], max_ops: u64) -> Result<u64, ScanError> {
    let mut ops: u64 = 0;
    rle_runs(action, |count, _| {
        ops = ops.saturating_add(count);
        if ops > max_ops {
            return Err(ScanError::TooMany(ops));
        }
        Ok(())
    })?;
    Ok(ops)
}

/// The number of predecessors (the sum of the pred group column) is at most `max_ops`.
fn count_preds(pred_group: &[u8], max_ops: u64) -> Result<(), ScanError> {
    let mut preds: u64 = 0;
    rle_runs(pred_group, |count, value| {
        preds = preds.saturating_add(count.saturating_mul(value.unwrap_or(0)));
        if preds > max_ops {
            return Err(ScanError::TooMany(preds));
        }
        Ok(())
    })
}

/// Every op counter the change names or makes is in automerge's range.
fn check_counters(columns: &Columns<'_>, start_op: u64, ops: u64) -> Result<(), ScanError> {
    rle_runs(columns.get(COL_OBJ_CTR), |_, value| match value {
        Some(v) if i128::from(v) > MAX_COUNTER => Err(ScanError::Malformed(
            "an object counter is out of range".into(),
        )),
        _ => Ok(()),
    })?;
    delta_counters_in_range(columns.get(COL_KEY_CTR))?;
    delta_counters_in_range(columns.get(COL_PRED_CTR))?;
    if i128::from(start_op) + i128::from(ops) > MAX_COUNTER {
        return Err(ScanError::Malformed(
            "its op counters are out of range".into(),
        ));
    }
    Ok(())
}

/// Every actor index in the op columns names one of the change's `actors`.
fn check_actor_indices(columns: &Columns<'_>, actors: u64) -> Result<(), ScanError> {
    for spec in [COL_OBJ_ACTOR, COL_KEY_ACTOR, COL_PRED_ACTOR] {
        rle_runs(columns.get(spec), |_, value| match value {
            Some(v) if v >= actors => Err(ScanError::Malformed(format!(
                "an op names actor {v}, but the change lists {actors}"
            ))),
            _ => Ok(()),
        })?;
    }
    Ok(())
}

/// Bytes to load as a document (a saved document, change chunks, or both) hold only the chunks
/// Fieldnotes writes (documents and changes, no bundles), and each change passes [`scan`]'s
/// limits: automerge's loader exhausts memory on some small hostile inputs (found by fuzzing
/// `Document::load`).
pub fn check_chunks(bytes: &[u8]) -> Result<(), IntakeError> {
    let mut r = Reader::new(bytes);
    let mut index = 0;
    while r.remaining() > 0 {
        let malformed = |reason: String| IntakeError::Malformed { index, reason };
        let start = r.pos;
        if r.take(4).map_err(malformed)? != MAGIC {
            return Err(malformed(
                "it does not start with automerge's magic bytes".into(),
            ));
        }
        r.take(4).map_err(malformed)?;
        let chunk_type = r.byte().map_err(malformed)?;
        let len = r.len().map_err(malformed)?;
        r.take(len).map_err(malformed)?;
        let chunk = &bytes[start..r.pos];
        match chunk_type {
            0 => {}
            CHUNK_CHANGE | CHUNK_COMPRESSED => {
                scan_one(chunk, MAX_OPS_PER_CHANGE, MAX_CHANGE_BYTES).map_err(|e| match e {
                    ScanError::Malformed(reason) => IntakeError::Malformed { index, reason },
                    ScanError::Unknown(columns) => IntakeError::UnknownColumns { index, columns },
                    ScanError::TooMany(declared) => IntakeError::TooManyOps {
                        what: format!("change {index}"),
                        declared,
                        limit: MAX_OPS_PER_CHANGE,
                    },
                    ScanError::TooLarge(size) => IntakeError::TooLarge {
                        what: format!("change {index}"),
                        size,
                        limit: MAX_CHANGE_BYTES,
                    },
                })?;
            }
            other => return Err(malformed(format!("it is a chunk of type {other}"))),
        }
        index += 1;
    }
    Ok(())
}

/// Bytes as a push: change chunks split where automerge's magic bytes start one (anything
/// before the first is a chunk of its own). How the fuzz targets read their input, shared with
/// the tests that replay what they found.
#[doc(hidden)]
pub fn split_changes(data: &[u8]) -> Vec<Vec<u8>> {
    let mut starts: Vec<usize> = data
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == MAGIC)
        .map(|(i, _)| i)
        .collect();
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| data[s..starts.get(n + 1).copied().unwrap_or(data.len())].to_vec())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Step 2: decode each scanned change and require that it re-encodes to the same bytes.
pub fn parse(scanned: Vec<Scanned<'_>>) -> Result<Vec<Parsed>, IntakeError> {
    scanned
        .into_iter()
        .enumerate()
        .map(|(index, s)| {
            let change =
                Change::try_from(s.chunk.as_ref()).map_err(|e| IntakeError::Malformed {
                    index,
                    reason: e.to_string(),
                })?;
            let expanded = change.decode();
            let rebuilt = Change::from(expanded.clone());
            if rebuilt.raw_bytes() != change.raw_bytes() {
                return Err(IntakeError::NonCanonical {
                    index,
                    hash: change.hash().to_string(),
                    reason: first_difference(change.raw_bytes(), rebuilt.raw_bytes()),
                });
            }
            Ok(Parsed {
                index,
                change,
                expanded,
            })
        })
        .collect()
}

fn first_difference(sent: &[u8], canonical: &[u8]) -> String {
    let at = sent
        .iter()
        .zip(canonical)
        .position(|(a, b)| a != b)
        .unwrap_or(sent.len().min(canonical.len()));
    if at < 8 {
        "its checksum does not match its contents".into()
    } else {
        format!(
            "it is {} bytes and differs from the canonical {} bytes at byte {at}",
            sent.len(),
            canonical.len()
        )
    }
}

/// An object: the root or the op that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Obj {
    Root,
    Op(u32, u64),
}

/// Where in an object an op writes: a map key (interned) or a list element (the id of the op
/// that inserted it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Key(u32),
    Element(u32, u64),
    Head,
}

/// What an op of the push made, and where it wrote.
#[derive(Debug, Clone, Copy)]
struct Made {
    /// It made an object of this type.
    object: Option<ObjType>,
    /// It inserted an element into this object.
    element_of: Option<Obj>,
    /// The object and the key or element it wrote. An op may overwrite only ops that wrote
    /// the same place: automerge files an op under its own key and drops a predecessor it finds
    /// elsewhere, so the change would come back under another hash.
    wrote: (Obj, At),
}

/// Per actor, the op counters of each change: (first, last, hash if stored), sorted.
type OpRanges = HashMap<u32, Vec<(u64, u64, Option<ChangeHash>)>>;

/// The causal past of a change: the highest op counter seen of each actor (by index).
type Clock = HashMap<u32, u64>;

/// Step 3: every object, element and predecessor an op of a fresh change refers to must exist in
/// that change's causal past (the stored document `doc` plus the earlier changes of the push it
/// depends on), and objects must be of a type the op can address. Changes whose dependencies
/// are missing are skipped: automerge holds them back without applying them.
pub fn check_references(doc: &mut AutoCommit, fresh: &[&Parsed]) -> Result<(), IntakeError> {
    if fresh.is_empty() {
        return Ok(());
    }
    let mut actors = Actors::default();
    let (ranges, doc_meta) = op_ranges(doc, fresh, &mut actors);
    let push: HashMap<ChangeHash, usize> = fresh
        .iter()
        .enumerate()
        .map(|(i, p)| (p.change.hash(), i))
        .collect();
    let mut doc_clocks: HashMap<ChangeHash, Clock> = HashMap::new();
    let mut push_clocks: Vec<Option<Clock>> = vec![None; fresh.len()];
    let mut made: HashMap<(u32, u64), Made> = HashMap::new();
    let mut stored: HashMap<ChangeHash, Vec<Made>> = HashMap::new();
    for i in apply_order(fresh, &doc_meta, &push) {
        let p = fresh[i];
        // The causal past of the change: the union of its dependencies' clocks.
        let mut clock = Clock::new();
        for dep in p.change.deps() {
            match push.get(dep) {
                Some(&j) => join(&mut clock, push_clocks[j].iter().flatten()),
                None => join(&mut clock, doc_clock(*dep, &doc_meta, &mut doc_clocks)),
            }
        }
        let own = actors.index(&p.expanded.actor_id);
        check_start_counter(p, &clock)?;
        let mut ctx = Ctx {
            doc: &*doc,
            actors: &mut actors,
            ranges: &ranges,
            clock: &clock,
            made: &made,
            stored: &mut stored,
        };
        let this_change = ChangeOps::check(&mut ctx, p, own)?;
        made.extend(this_change);
        join(&mut clock, [(&own, &p.change.max_op())]);
        push_clocks[i] = Some(clock);
    }
    Ok(())
}

/// Each stored change's actor, last op and dependencies.
type DocMeta = HashMap<ChangeHash, (u32, u64, Vec<ChangeHash>)>;

/// The op ranges of every change, stored and pushed, per actor (sorted), and the stored
/// changes' metadata.
fn op_ranges(doc: &mut AutoCommit, fresh: &[&Parsed], actors: &mut Actors) -> (OpRanges, DocMeta) {
    let mut ranges: OpRanges = HashMap::new();
    let mut doc_meta: DocMeta = HashMap::new();
    for meta in doc.get_changes_meta(&[]) {
        let actor = actors.index(&meta.actor);
        ranges
            .entry(actor)
            .or_default()
            .push((meta.start_op, meta.max_op, Some(meta.hash)));
        doc_meta.insert(meta.hash, (actor, meta.max_op, meta.deps.clone()));
    }
    for p in fresh {
        if !p.change.is_empty() {
            let actor = actors.index(p.change.actor_id());
            ranges.entry(actor).or_default().push((
                p.change.start_op().get(),
                p.change.max_op(),
                None,
            ));
        }
    }
    for r in ranges.values_mut() {
        r.sort_unstable();
    }
    (ranges, doc_meta)
}

/// Apply order: a change is ready once every dependency is stored or ready. Changes never
/// ready (a dependency missing) are left out.
fn apply_order(
    fresh: &[&Parsed],
    doc_meta: &DocMeta,
    push: &HashMap<ChangeHash, usize>,
) -> Vec<usize> {
    let mut ready: Vec<usize> = Vec::with_capacity(fresh.len());
    let mut is_ready = vec![false; fresh.len()];
    let mut progress = true;
    while progress {
        progress = false;
        for (i, p) in fresh.iter().enumerate() {
            if !is_ready[i]
                && p.change
                    .deps()
                    .iter()
                    .all(|d| doc_meta.contains_key(d) || push.get(d).is_some_and(|&j| is_ready[j]))
            {
                is_ready[i] = true;
                ready.push(i);
                progress = true;
            }
        }
    }
    ready
}

/// Raise `clock` to every counter of `other`.
fn join<'c>(clock: &mut Clock, other: impl IntoIterator<Item = (&'c u32, &'c u64)>) {
    for (&a, &c) in other {
        let e = clock.entry(a).or_insert(0);
        *e = (*e).max(c);
    }
}

/// Automerge numbers a change's ops after every op it has seen; a change that reuses counters
/// would give two ops one id.
fn check_start_counter(p: &Parsed, clock: &Clock) -> Result<(), IntakeError> {
    let start = p.expanded.start_op.get();
    match clock.values().copied().max().filter(|&m| start <= m) {
        Some(seen) => Err(IntakeError::Malformed {
            index: p.index,
            reason: format!(
                "its ops start at counter {start}, but the changes it builds on already used \
                 counters up to {seen}"
            ),
        }),
        None => Ok(()),
    }
}

/// What an op made, by its id (actor index, counter).
type OpMade = ((u32, u64), Made);

/// One change's ops, checked in order: each may refer to the objects and elements that ops
/// before it in the same change made.
struct ChangeOps<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    check: Check,
    own: u32,
    start: u64,
    /// What this change's ops checked so far made, by offset from `start`.
    made: Vec<Made>,
}

impl<'c, 'a> ChangeOps<'c, 'a> {
    /// Check every op of `p` (by actor `own`); what its ops made.
    fn check(ctx: &'c mut Ctx<'a>, p: &Parsed, own: u32) -> Result<Vec<OpMade>, IntakeError> {
        let start = p.expanded.start_op.get();
        let mut ops = ChangeOps {
            ctx,
            check: Check {
                index: p.index,
                hash: p.change.hash().to_string(),
            },
            own,
            start,
            made: Vec::new(),
        };
        for (n, op) in p.expanded.operations.iter().enumerate() {
            ops.check_op(start.saturating_add(n as u64), op)?;
        }
        let own = ops.own;
        Ok(ops
            .made
            .into_iter()
            .enumerate()
            .map(|(n, m)| ((own, start.saturating_add(n as u64)), m))
            .collect())
    }

    /// Op `c@a` is an earlier op of this change than op `ctr`.
    fn earlier(&self, a: u32, c: u64, ctr: u64) -> bool {
        a == self.own && c >= self.start && c < ctr
    }

    /// What earlier op `c@a` of this change made.
    fn own_made(&self, a: u32, c: u64) -> Option<Made> {
        if a != self.own {
            return None;
        }
        let offset = usize::try_from(c.checked_sub(self.start)?).ok()?;
        self.made.get(offset).copied()
    }

    /// Op `ctr`, which writes into `op.obj` at `op.key`, inserting or overwriting `op.pred`.
    fn check_op(&mut self, ctr: u64, op: &Op) -> Result<(), IntakeError> {
        let obj = self.ctx.actors.obj(&op.obj);
        let obj_type = match obj {
            Obj::Root => Some(ObjType::Map),
            Obj::Op(a, c) if self.earlier(a, c, ctr) => self.own_made(a, c).and_then(|m| m.object),
            Obj::Op(a, c) => self.ctx.object_type(a, c),
        };
        let Some(obj_type) = obj_type else {
            return Err(self.check.dangling(format!(
                "writes into object {}, which no change it builds on created",
                show(&op.obj)
            )));
        };
        let sequence = matches!(obj_type, ObjType::List | ObjType::Text);
        self.check_key(ctr, op, obj, sequence)?;
        if op.insert && !sequence {
            return Err(self.check.dangling(format!(
                "inserts into {}, which is not a list or text",
                show(&op.obj)
            )));
        }
        let m = Made {
            object: made_object(&op.action),
            element_of: op.insert.then_some(obj),
            wrote: (obj, self.ctx.actors.at(op, (self.own, ctr))),
        };
        self.check_preds(ctr, op, m.wrote)?;
        self.made.push(m);
        Ok(())
    }

    /// A map key addresses a map, a list position a list or text, and the element it names was
    /// inserted into that object.
    fn check_key(
        &mut self,
        ctr: u64,
        op: &Op,
        obj: Obj,
        sequence: bool,
    ) -> Result<(), IntakeError> {
        match &op.key {
            Key::Map(_) if sequence => Err(self.check.dangling(format!(
                "uses a map key in {}, which is a list or text",
                show(&op.obj)
            ))),
            Key::Seq(_) if !sequence => Err(self.check.dangling(format!(
                "uses a list position in {}, which is a map",
                show(&op.obj)
            ))),
            Key::Seq(ElementId::Id(e)) => {
                let a = self.ctx.actors.index(e.actor());
                let c = e.counter();
                let found = if self.earlier(a, c, ctr) {
                    self.own_made(a, c).and_then(|m| m.element_of) == Some(obj)
                } else {
                    self.ctx.element_exists(obj, a, c)
                };
                if found {
                    Ok(())
                } else {
                    Err(self.check.dangling(format!(
                        "refers to element {} of {}, which no change it builds on inserted",
                        show_op(e),
                        show(&op.obj)
                    )))
                }
            }
            Key::Map(_) | Key::Seq(ElementId::Head) => Ok(()),
        }
    }

    /// Every op it overwrites exists in its causal past or earlier in this change, and wrote
    /// the same place (`wrote`) this op writes.
    fn check_preds(&mut self, ctr: u64, op: &Op, wrote: (Obj, At)) -> Result<(), IntakeError> {
        for pred in op.pred.iter() {
            let a = self.ctx.actors.index(pred.actor());
            let c = pred.counter();
            let made = if self.earlier(a, c, ctr) {
                self.own_made(a, c)
            } else {
                self.ctx.made_by(a, c)
            };
            let Some(made) = made else {
                return Err(self.check.dangling(format!(
                    "overwrites op {}, which no change it builds on made",
                    show_op(pred)
                )));
            };
            if op.insert || made.wrote != wrote {
                return Err(self.check.dangling(format!(
                    "overwrites op {}, which wrote another place than {} {}",
                    show_op(pred),
                    show(&op.obj),
                    show_key(&op.key)
                )));
            }
        }
        Ok(())
    }
}

/// The type of object an op makes, if it makes one.
fn made_object(action: &OpType) -> Option<ObjType> {
    match action {
        OpType::Make(t) => Some(*t),
        _ => None,
    }
}

/// Interned actor ids and map keys.
#[derive(Default)]
struct Actors {
    ids: HashMap<ActorId, u32>,
    keys: HashMap<String, u32>,
}

impl Actors {
    fn index(&mut self, actor: &ActorId) -> u32 {
        if let Some(&i) = self.ids.get(actor) {
            return i;
        }
        let i = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.insert(actor.clone(), i);
        i
    }

    /// Where op `id` (by interned actor) writes in its object: its map key, the element it
    /// names, or the element it inserts (its own id).
    fn at(&mut self, op: &Op, id: (u32, u64)) -> At {
        match &op.key {
            _ if op.insert => At::Element(id.0, id.1),
            Key::Map(k) => {
                let next = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
                At::Key(*self.keys.entry(k.to_string()).or_insert(next))
            }
            Key::Seq(ElementId::Id(e)) => At::Element(self.index(e.actor()), e.counter()),
            Key::Seq(ElementId::Head) => At::Head,
        }
    }

    /// The object `id` names, by interned actor.
    fn obj(&mut self, id: &ObjectId) -> Obj {
        match id {
            ObjectId::Root => Obj::Root,
            ObjectId::Id(id) => Obj::Op(self.index(id.actor()), id.counter()),
        }
    }
}

struct Check {
    index: usize,
    hash: String,
}

impl Check {
    fn dangling(&self, reason: String) -> IntakeError {
        IntakeError::DanglingReference {
            index: self.index,
            hash: self.hash.clone(),
            reason,
        }
    }
}

struct Ctx<'a> {
    doc: &'a AutoCommit,
    actors: &'a mut Actors,
    ranges: &'a OpRanges,
    clock: &'a Clock,
    made: &'a HashMap<(u32, u64), Made>,
    /// Stored changes read so far: what each of their ops made.
    stored: &'a mut HashMap<ChangeHash, Vec<Made>>,
}

impl Ctx<'_> {
    /// The change holding op `counter@actor`, if that op exists: its start op and, for a stored
    /// change, its hash.
    fn change_of(&self, actor: u32, counter: u64) -> Option<(u64, Option<ChangeHash>)> {
        let r = self.ranges.get(&actor)?;
        let i = r.partition_point(|&(start, _, _)| start <= counter);
        let (start, end, hash) = *r.get(i.checked_sub(1)?)?;
        (end >= counter).then_some((start, hash))
    }

    /// Op `counter@actor` exists and is in the causal past.
    fn visible(&self, actor: u32, counter: u64) -> bool {
        self.clock.get(&actor).is_some_and(|&max| counter <= max)
            && self.change_of(actor, counter).is_some()
    }

    /// What stored op `counter@actor` made, read from its change as automerge rebuilds it (the
    /// way a reload sees it). Automerge's own lookups by op id (`import`, cursors) assume the op
    /// is what the caller says it is, and assert.
    fn stored_op(&mut self, actor: u32, counter: u64) -> Option<Made> {
        let (start, hash) = self.change_of(actor, counter)?;
        let hash = hash?;
        if !self.stored.contains_key(&hash) {
            let change = ReadDoc::get_change_by_hash(self.doc, &hash)?;
            let made = change
                .decode()
                .operations
                .iter()
                .enumerate()
                .map(|(n, op)| {
                    let obj = self.actors.obj(&op.obj);
                    Made {
                        object: made_object(&op.action),
                        element_of: op.insert.then_some(obj),
                        wrote: (
                            obj,
                            self.actors.at(op, (actor, start.saturating_add(n as u64))),
                        ),
                    }
                })
                .collect();
            self.stored.insert(hash, made);
        }
        let offset = usize::try_from(counter - start).ok()?;
        self.stored.get(&hash)?.get(offset).copied()
    }

    /// What op `counter@actor` of the causal past made, from the push or the stored document.
    fn made_by(&mut self, actor: u32, counter: u64) -> Option<Made> {
        if !self.visible(actor, counter) {
            return None;
        }
        match self.made.get(&(actor, counter)) {
            Some(m) => Some(*m),
            None => self.stored_op(actor, counter),
        }
    }

    /// The type of object `counter@actor`, if it is one in the causal past.
    fn object_type(&mut self, actor: u32, counter: u64) -> Option<ObjType> {
        self.made_by(actor, counter).and_then(|m| m.object)
    }

    /// Element `counter@actor` was inserted into `obj` in the causal past.
    fn element_exists(&mut self, obj: Obj, actor: u32, counter: u64) -> bool {
        self.made_by(actor, counter)
            .is_some_and(|m| m.element_of == Some(obj))
    }
}

/// The clock of stored change `hash`: the highest op counter of each actor in its causal past,
/// itself included.
fn doc_clock<'m>(
    hash: ChangeHash,
    meta: &DocMeta,
    memo: &'m mut HashMap<ChangeHash, Clock>,
) -> &'m Clock {
    memo.entry(hash).or_insert_with(|| {
        let mut clock = Clock::new();
        let mut seen: HashSet<ChangeHash> = HashSet::new();
        let mut stack = vec![hash];
        while let Some(h) = stack.pop() {
            if !seen.insert(h) {
                continue;
            }
            if let Some((actor, max_op, deps)) = meta.get(&h) {
                join(&mut clock, [(actor, max_op)]);
                stack.extend(deps.iter().copied());
            }
        }
        clock
    })
}

fn show(obj: &ObjectId) -> String {
    match obj {
        ObjectId::Root => "the root".into(),
        ObjectId::Id(id) => show_op(id),
    }
}

fn show_key(key: &Key) -> String {
    match key {
        Key::Map(k) => format!("key {k:?}"),
        Key::Seq(ElementId::Head) => "the head".into(),
        Key::Seq(ElementId::Id(e)) => format!("element {}", show_op(e)),
    }
}

fn show_op(id: &OpId) -> String {
    format!("{}@{}", id.counter(), id.actor().to_hex_string())
}

/// Step 4, after merging: rebuild the changes that are new since `before` from the merged
/// document, as a reload rebuilds them, and require exactly the hashes that were applied.
pub fn check_reload(
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    applied: &[ChangeHash],
) -> Result<(), IntakeError> {
    let rebuilt: HashSet<ChangeHash> = doc.get_changes(before).iter().map(Change::hash).collect();
    let expected: HashSet<ChangeHash> = applied.iter().copied().collect();
    if rebuilt != expected {
        let strays = rebuilt.difference(&expected).count();
        return Err(IntakeError::Inconsistent(format!(
            "{} of the {} new changes came back under a different hash",
            strays.max(expected.difference(&rebuilt).count()),
            expected.len()
        )));
    }
    Ok(())
}

/// A full round trip: save the merged document, load it again, and compare heads. Costs a
/// save and a load; used when a cheaper check cannot vouch for the result.
pub fn check_round_trip(doc: &mut AutoCommit) -> Result<Vec<u8>, IntakeError> {
    let saved = doc.save();
    let mut reloaded = AutoCommit::load(&saved)
        .map_err(|e| IntakeError::Inconsistent(format!("the saved document does not load: {e}")))?;
    let mut want = doc.get_heads();
    let mut got = reloaded.get_heads();
    want.sort();
    got.sort();
    if want != got {
        return Err(IntakeError::Inconsistent(
            "the saved document reloads to different heads".into(),
        ));
    }
    Ok(saved)
}

/// Steps 3 for the changes of `parsed` that `doc` does not hold yet (each once).
pub fn check_fresh(doc: &mut AutoCommit, parsed: &[Parsed]) -> Result<(), IntakeError> {
    let mut seen = HashSet::new();
    let fresh: Vec<&Parsed> = parsed
        .iter()
        .filter(|p| seen.insert(p.change.hash()))
        .filter(|p| doc.get_change_meta_by_hash(&p.change.hash()).is_none())
        .collect();
    check_references(doc, &fresh)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use automerge::legacy::{self, SortedVec};
    use automerge::{ROOT, ScalarValue};

    use super::*;
    use crate::tests::{T0, actor, changes, note, patch};
    use crate::{Document, MergeError, VisitNotePatch, merge_incoming};

    fn edited_note() -> Document {
        let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
        doc.edit(
            patch(VisitNotePatch {
                title: Some("Second".into()),
                body: Some("Sam showed me his new drawings.".into()),
                ..Default::default()
            }),
            T0 + 1,
        )
        .unwrap();
        doc
    }

    #[test]
    fn the_op_count_is_read_without_decoding_and_matches_automerge() {
        let mut doc = edited_note();
        for bytes in changes(&mut doc) {
            let change = Change::try_from(bytes.as_slice()).unwrap();
            let declared = declared_ops(std::slice::from_ref(&bytes), &IntakeLimits::DEFAULT);
            assert_eq!(declared.unwrap(), change.len() as u64);
        }
    }

    #[test]
    fn changes_over_the_op_limits_are_refused() {
        let mut doc = edited_note();
        let all = changes(&mut doc);
        let ops = declared_ops(&all, &IntakeLimits::DEFAULT).unwrap();
        let first = Change::try_from(all[0].as_slice()).unwrap().len() as u64;
        let per_change = IntakeLimits {
            max_ops_per_change: first - 1,
            ..IntakeLimits::DEFAULT
        };
        let per_push = IntakeLimits {
            max_ops_per_push: ops - 1,
            ..IntakeLimits::DEFAULT
        };
        for (limits, over) in [(per_change, "change 0"), (per_push, "push")] {
            let err = scan(&all, &limits).unwrap_err();
            assert!(
                matches!(err, IntakeError::TooManyOps { ref what, .. } if what.contains(over)),
                "{err}"
            );
        }
        assert!(scan(&all, &IntakeLimits::DEFAULT).is_ok());
    }

    #[test]
    fn compressed_changes_are_inflated_within_the_limit() {
        let mut doc = edited_note();
        let all = changes(&mut doc);
        // The creating change is over automerge's 256-byte threshold, so it travels deflated.
        assert_eq!(all[0][8], CHUNK_COMPRESSED);
        let scanned = scan(&all, &IntakeLimits::DEFAULT).unwrap();
        assert_eq!(scanned[0].chunk[8], CHUNK_CHANGE);
        let small = IntakeLimits {
            max_change_bytes: 100,
            ..IntakeLimits::DEFAULT
        };
        let err = scan(&all, &small).unwrap_err();
        assert!(matches!(err, IntakeError::TooLarge { .. }), "{err}");
    }

    /// A change by actor 1 after `doc`'s heads holding `ops`.
    fn next_change(doc: &mut Document, ops: Vec<legacy::Op>) -> Vec<u8> {
        let heads = doc.heads();
        let max_op = doc
            .doc
            .get_changes_meta(&[])
            .iter()
            .map(|m| m.max_op)
            .max()
            .unwrap_or(0);
        let seq = doc.doc.get_changes_meta(&[]).len() as u64 + 1;
        Change::from(ExpandedChange {
            operations: ops,
            actor_id: actor(1),
            hash: None,
            seq,
            start_op: NonZeroU64::new(max_op + 1).unwrap(),
            time: T0 + 5,
            message: None,
            deps: heads,
            extra_bytes: Vec::new(),
            author: None,
        })
        .raw_bytes()
        .to_vec()
    }

    fn insert(obj: legacy::ObjectId, key: legacy::Key) -> legacy::Op {
        legacy::Op {
            action: legacy::OpType::Put(ScalarValue::Str("x".into())),
            obj,
            key,
            pred: SortedVec::new(),
            insert: true,
        }
    }

    #[test]
    fn references_to_objects_and_elements_nobody_made_are_refused() {
        let mut doc = edited_note();
        let stored = doc.save();
        let other = ActorId::from([9; 16]);
        let (_, body) = doc.doc.get(ROOT, "body").unwrap().unwrap();
        let body = legacy::OpId::new(
            body.to_string().split('@').next().unwrap().parse().unwrap(),
            &actor(1),
        );
        let cases = [
            insert(
                legacy::ObjectId::Id(legacy::OpId::new(9, &other)),
                legacy::Key::Seq(legacy::ElementId::Head),
            ),
            insert(
                legacy::ObjectId::Id(body.clone()),
                legacy::Key::Seq(legacy::ElementId::Id(legacy::OpId::new(9999, &actor(1)))),
            ),
            insert(
                legacy::ObjectId::Root,
                legacy::Key::Seq(legacy::ElementId::Head),
            ),
            legacy::Op {
                action: legacy::OpType::Put(ScalarValue::Str("x".into())),
                obj: legacy::ObjectId::Root,
                key: legacy::Key::Map("title".into()),
                pred: [legacy::OpId::new(9, &other)].into_iter().collect(),
                insert: false,
            },
        ];
        for op in cases {
            let bytes = next_change(&mut doc, vec![op.clone()]);
            let err = merge_incoming("n1", Some(&stored), &[bytes]).unwrap_err();
            assert!(
                matches!(
                    err,
                    MergeError::Intake(IntakeError::DanglingReference { .. })
                ),
                "{op:?}: {err}"
            );
        }
        // The same shape pointing at real things is fine: insert at the head of the body.
        let good = next_change(
            &mut doc,
            vec![insert(
                legacy::ObjectId::Id(body),
                legacy::Key::Seq(legacy::ElementId::Head),
            )],
        );
        merge_incoming("n1", Some(&stored), &[good]).unwrap();
    }

    /// The op that last wrote `key` of the root, as a legacy op id of actor 1.
    fn root_op(doc: &Document, key: &str) -> legacy::OpId {
        let (_, id) = doc.doc.get(ROOT, key).unwrap().unwrap();
        let counter = id.to_string().split('@').next().unwrap().parse().unwrap();
        legacy::OpId::new(counter, &actor(1))
    }

    fn put_over(key: &str, pred: legacy::OpId) -> legacy::Op {
        legacy::Op {
            action: legacy::OpType::Put(ScalarValue::Str("Home visit".into())),
            obj: legacy::ObjectId::Root,
            key: legacy::Key::Map(key.into()),
            pred: [pred].into_iter().collect(),
            insert: false,
        }
    }

    #[test]
    fn an_op_may_overwrite_only_what_was_written_in_the_same_place() {
        // Found by fuzzing merge_incoming: a put to "tktle" naming the "title" op as the one
        // it overwrites. Automerge files it under "tktle" and drops the predecessor, so the
        // change came back under another hash and the merged document no longer loaded.
        let mut doc = edited_note();
        let stored = doc.save();
        let title = root_op(&doc, "title");
        let elsewhere = next_change(&mut doc, vec![put_over("tktle", title.clone())]);
        let err = merge_incoming("n1", Some(&stored), &[elsewhere]).unwrap_err();
        assert!(
            matches!(
                err,
                MergeError::Intake(IntakeError::DanglingReference { ref reason, .. })
                    if reason.contains("another place")
            ),
            "{err}"
        );
        // An insert overwrites nothing: the element it makes is new.
        let (_, body) = doc.doc.get(ROOT, "body").unwrap().unwrap();
        let body = legacy::OpId::new(
            body.to_string().split('@').next().unwrap().parse().unwrap(),
            &actor(1),
        );
        let mut inserting = insert(
            legacy::ObjectId::Id(body),
            legacy::Key::Seq(legacy::ElementId::Head),
        );
        inserting.pred = [title.clone()].into_iter().collect();
        let inserting = next_change(&mut doc, vec![inserting]);
        assert!(merge_incoming("n1", Some(&stored), &[inserting]).is_err());
        // The same put to the key the op wrote is an ordinary edit.
        let same = next_change(&mut doc, vec![put_over("title", title)]);
        let mut merged = merge_incoming("n1", Some(&stored), &[same]).unwrap();
        let bytes = merged.document.save();
        Document::load("n1", &bytes).unwrap();
    }

    #[test]
    fn a_change_that_does_not_re_encode_the_same_is_refused() {
        let mut doc = edited_note();
        let mut all = changes(&mut doc);
        let scanned = scan(&all[1..], &IntakeLimits::DEFAULT).unwrap();
        let mut bytes = scanned[0].chunk.to_vec();
        // A wrong checksum: the bytes still parse, but automerge would write another.
        bytes[4] ^= 0xff;
        all[1] = bytes;
        let err = merge_incoming("n1", None, &all).unwrap_err();
        assert!(
            matches!(
                err,
                MergeError::Intake(IntakeError::NonCanonical { index: 1, .. })
            ),
            "{err}"
        );
    }
}
