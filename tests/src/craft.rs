//! Hand-made automerge change chunks, for the hostile-change suite. A test tool, not a codec:
//! it knows just enough of automerge's storage format to take a real change apart, change one
//! thing, and put it back together with a correct checksum.
//!
//! A change chunk (automerge binary format, "change chunks"):
//!
//! ```text
//! magic (85 6f 4a 83) | checksum (4) | type (1 = change) | length (uLEB) | data
//! data = deps (uLEB n, n × 32-byte hash) | actor (uLEB len, bytes) | seq (uLEB)
//!      | start op (uLEB) | time (sLEB) | message (uLEB len, UTF-8)
//!      | other actors (uLEB n, n × (uLEB len, bytes))
//!      | column table (uLEB n, n × (spec uLEB, length uLEB)) | column data | extra bytes
//! ```
//!
//! The checksum is the first 4 bytes of SHA-256 over `type | length | data`; the whole digest is
//! the change hash. A column spec is `column id << 4 | type` (bit 3 would mean deflated). Integer
//! columns are run-length encoded: an sLEB count `n > 0` then one value repeated `n` times,
//! `n < 0` then `-n` literal values, `0` then a uLEB count of nulls; values are uLEB (sLEB in
//! delta columns). Boolean columns are uLEB run lengths, alternating, starting with `false`.

// A test tool over the small chunks the tests make: lengths and counts fit every integer type.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use sha2::{Digest, Sha256};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Column specs as automerge writes them in a change: `id << 4 | type`.
pub mod col {
    /// Column types, numbered as automerge numbers them.
    #[derive(Debug, Clone, Copy)]
    pub enum Type {
        Group,
        Actor,
        Uleb,
        Delta,
        Boolean,
        String,
        ValueMeta,
    }

    /// The spec of column `id` holding values of type `kind` (not deflated).
    pub const fn spec(id: u32, kind: Type) -> u32 {
        id << 4 | kind as u32
    }

    pub const OBJ_ACTOR: u32 = spec(0, Type::Actor);
    pub const OBJ_CTR: u32 = spec(0, Type::Uleb);
    pub const KEY_ACTOR: u32 = spec(1, Type::Actor);
    pub const KEY_CTR: u32 = spec(1, Type::Delta);
    pub const KEY_STR: u32 = spec(1, Type::String);
    pub const INSERT: u32 = spec(3, Type::Boolean);
    pub const ACTION: u32 = spec(4, Type::Uleb);
    pub const VAL_META: u32 = spec(5, Type::ValueMeta);
    pub const PRED_GROUP: u32 = spec(7, Type::Group);
}

/// The parts of one change chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeParts {
    pub deps: Vec<[u8; 32]>,
    pub actor: Vec<u8>,
    pub seq: u64,
    pub start_op: u64,
    pub time: i64,
    pub message: Vec<u8>,
    pub other_actors: Vec<Vec<u8>>,
    /// (spec, data), in the order they are written.
    pub columns: Vec<(u32, Vec<u8>)>,
    pub extra: Vec<u8>,
    /// Replaces the computed checksum when set (to write a wrong one).
    pub checksum_override: Option<[u8; 4]>,
}

impl ChangeParts {
    /// Take apart an uncompressed change chunk (automerge's `Change::raw_bytes`).
    pub fn parse(chunk: &[u8]) -> anyhow::Result<ChangeParts> {
        let mut r = Reader { b: chunk, pos: 0 };
        anyhow::ensure!(r.take(4)? == MAGIC, "not an automerge chunk");
        r.take(4)?;
        anyhow::ensure!(r.take(1)? == [1], "not an uncompressed change chunk");
        let len = r.uleb()? as usize;
        anyhow::ensure!(len == chunk.len() - r.pos, "length mismatch");
        let deps = (0..r.uleb()?)
            .map(|_| Ok(r.take(32)?.try_into()?))
            .collect::<anyhow::Result<Vec<[u8; 32]>>>()?;
        let n = r.uleb()? as usize;
        let actor = r.take(n)?.to_vec();
        let seq = r.uleb()?;
        let start_op = r.uleb()?;
        let time = r.sleb()?;
        let n = r.uleb()? as usize;
        let message = r.take(n)?.to_vec();
        let other_actors = (0..r.uleb()?)
            .map(|_| {
                let n = r.uleb()? as usize;
                Ok(r.take(n)?.to_vec())
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let specs = (0..r.uleb()?)
            .map(|_| Ok((u32::try_from(r.uleb()?)?, r.uleb()? as usize)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let columns = specs
            .into_iter()
            .map(|(spec, n)| Ok((spec, r.take(n)?.to_vec())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let extra = chunk[r.pos..].to_vec();
        Ok(ChangeParts {
            deps,
            actor,
            seq,
            start_op,
            time,
            message,
            other_actors,
            columns,
            extra,
            checksum_override: None,
        })
    }

    /// The data of column `spec`, if the change has it.
    pub fn column_mut(&mut self, spec: u32) -> Option<&mut Vec<u8>> {
        self.columns
            .iter_mut()
            .find(|(s, _)| *s == spec)
            .map(|(_, d)| d)
    }

    /// Put the chunk together, with the checksum its data calls for.
    pub fn encode(&self) -> Vec<u8> {
        let mut data = Vec::new();
        uleb(&mut data, self.deps.len() as u64);
        for d in &self.deps {
            data.extend_from_slice(d);
        }
        bytes(&mut data, &self.actor);
        uleb(&mut data, self.seq);
        uleb(&mut data, self.start_op);
        sleb(&mut data, self.time);
        bytes(&mut data, &self.message);
        uleb(&mut data, self.other_actors.len() as u64);
        for a in &self.other_actors {
            bytes(&mut data, a);
        }
        uleb(&mut data, self.columns.len() as u64);
        for (spec, d) in &self.columns {
            uleb(&mut data, u64::from(*spec));
            uleb(&mut data, d.len() as u64);
        }
        for (_, d) in &self.columns {
            data.extend_from_slice(d);
        }
        data.extend_from_slice(&self.extra);

        let mut typed = vec![1];
        uleb(&mut typed, data.len() as u64);
        let digest = Sha256::new()
            .chain_update(&typed)
            .chain_update(&data)
            .finalize();
        let mut out = MAGIC.to_vec();
        match self.checksum_override {
            Some(c) => out.extend_from_slice(&c),
            None => out.extend_from_slice(&digest[..4]),
        }
        out.extend_from_slice(&typed);
        out.extend_from_slice(&data);
        out
    }
}

/// Append an unsigned LEB128 number: seven bits a byte, low first, the top bit set on every
/// byte but the last.
pub fn uleb(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Append a signed LEB128 number.
pub fn sleb(out: &mut Vec<u8>, mut n: i64) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if (n == 0 && low & 0x40 == 0) || (n == -1 && low & 0x40 != 0) {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    uleb(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A run-length-encoded integer column, written run by run.
#[derive(Debug, Default)]
pub struct Rle(pub Vec<u8>);

impl Rle {
    /// `count` copies of `value`.
    pub fn run(mut self, count: u64, value: u64) -> Self {
        sleb(&mut self.0, i64::try_from(count).unwrap_or(i64::MAX));
        uleb(&mut self.0, value);
        self
    }

    /// `count` nulls.
    pub fn nulls(mut self, count: u64) -> Self {
        sleb(&mut self.0, 0);
        uleb(&mut self.0, count);
        self
    }

    /// The given values as one literal run.
    pub fn literal(mut self, values: &[u64]) -> Self {
        sleb(
            &mut self.0,
            -i64::try_from(values.len()).unwrap_or(i64::MAX),
        );
        for v in values {
            uleb(&mut self.0, *v);
        }
        self
    }
}

/// The values of a run-length-encoded unsigned column (`None` for nulls).
pub fn rle_values(column: &[u8]) -> anyhow::Result<Vec<Option<u64>>> {
    let mut r = Reader { b: column, pos: 0 };
    let mut out = Vec::new();
    while r.pos < column.len() {
        let n = r.sleb()?;
        if n > 0 {
            let v = r.uleb()?;
            out.extend(std::iter::repeat_n(Some(v), n as usize));
        } else if n < 0 {
            for _ in 0..n.unsigned_abs() {
                out.push(Some(r.uleb()?));
            }
        } else {
            let k = r.uleb()?;
            out.extend(std::iter::repeat_n(None, k as usize));
        }
    }
    Ok(out)
}

/// A column holding the same values as `column` but with every value in a run of its own: a
/// valid encoding that automerge never writes when two neighbours are equal.
pub fn one_run_each(column: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut rle = Rle::default();
    for v in rle_values(column)? {
        rle = match v {
            Some(v) => rle.run(1, v),
            None => rle.nulls(1),
        };
    }
    Ok(rle.0)
}

/// A change of `ops` ops in a few hundred bytes, all valid: the first makes a list at the root
/// key `bomb`, every other inserts a null at the head of that list. Its other fields (deps,
/// actor, counters) come from `template`.
pub fn op_bomb(template: &ChangeParts, ops: u64) -> ChangeParts {
    let rest = ops - 1;
    let start = template.start_op;
    let mut key_str = Vec::new();
    sleb(&mut key_str, -1);
    bytes(&mut key_str, b"bomb");
    sleb(&mut key_str, 0);
    uleb(&mut key_str, rest);
    let mut insert = Vec::new();
    uleb(&mut insert, 1);
    uleb(&mut insert, rest);
    ChangeParts {
        other_actors: Vec::new(),
        columns: vec![
            (col::OBJ_ACTOR, Rle::default().nulls(1).run(rest, 0).0),
            (col::OBJ_CTR, Rle::default().nulls(1).run(rest, start).0),
            (col::KEY_ACTOR, Rle::default().nulls(ops).0),
            (col::KEY_CTR, Rle::default().nulls(1).run(rest, 0).0),
            (col::KEY_STR, key_str),
            (col::INSERT, insert),
            (col::ACTION, Rle::default().literal(&[2]).run(rest, 1).0),
            (col::VAL_META, Rle::default().run(ops, 0).0),
            (col::PRED_GROUP, Rle::default().run(ops, 0).0),
        ],
        extra: Vec::new(),
        checksum_override: None,
        ..template.clone()
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        anyhow::ensure!(self.pos + n <= self.b.len(), "ends early");
        let out = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// A LEB128 number's bits, how many it has, and its last byte (which holds the sign).
    fn leb(&mut self) -> anyhow::Result<(u64, u32, u8)> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.take(1)?[0];
            anyhow::ensure!(shift < 64, "number too long");
            v |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                return Ok((v, shift, b));
            }
        }
    }

    fn uleb(&mut self) -> anyhow::Result<u64> {
        Ok(self.leb()?.0)
    }

    fn sleb(&mut self) -> anyhow::Result<i64> {
        let (bits, shift, last) = self.leb()?;
        let mut v = bits as i64;
        if shift < 64 && last & 0x40 != 0 {
            v |= -1 << shift;
        }
        Ok(v)
    }
}
