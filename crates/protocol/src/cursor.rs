//! The text forms of [`Cursor`] and [`FeedAnchor`], written and read by the server only
//! (devices store them and send them back unread). They live here, beside the messages that
//! carry them, so every server (and the simulation that stands in for one) writes them the same
//! way.
//!
//! Cursors are `1.<seq>`, or `1.<seq>.<backfill seq>.<backfill key, base64url>` while a
//! backfill is unfinished; anchors are `1.<feed id, hex>.<seq>.<stamp, 16 hex digits>`. The
//! leading `1.` versions the format.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Cursor, FeedAnchor};

const FORMAT_PREFIX: &str = "1.";

/// What a cursor holds: the feed position, and where an unfinished backfill stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorPosition {
    /// The feed position the next pull starts after.
    pub seq: i64,
    /// Where an unfinished backfill stopped.
    pub backfill: Option<BackfillAt>,
}

/// A backfill that stopped part-way through a scope key's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillAt {
    /// The scope key being backfilled.
    pub key: String,
    /// The last feed position of that key already sent.
    pub seq: i64,
}

/// What an anchor names: the feed's identity, and its newest row with that row's stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorParts {
    pub feed_id: String,
    pub seq: i64,
    pub stamp: i64,
}

/// A cursor this format does not describe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor {0:?} was not issued by this server")]
pub struct ForeignCursor(pub String);

impl Cursor {
    /// The cursor for `position`.
    pub fn encode(position: &CursorPosition) -> Cursor {
        match &position.backfill {
            None => Cursor(format!("{FORMAT_PREFIX}{}", position.seq)),
            Some(b) => Cursor(format!(
                "{FORMAT_PREFIX}{}.{}.{}",
                position.seq,
                b.seq,
                URL_SAFE_NO_PAD.encode(b.key.as_bytes())
            )),
        }
    }

    /// The position this cursor holds, or [`ForeignCursor`] for text this format never writes.
    pub fn decode(&self) -> Result<CursorPosition, ForeignCursor> {
        let invalid = || ForeignCursor(self.0.clone());
        let rest = self.0.strip_prefix(FORMAT_PREFIX).ok_or_else(invalid)?;
        let parts: Vec<&str> = rest.split('.').collect();
        let seq = |s: &str| decimal(s).ok_or_else(invalid);
        match parts.as_slice() {
            [feed] => Ok(CursorPosition {
                seq: seq(feed)?,
                backfill: None,
            }),
            [feed, backfill_seq, key] => {
                let key = URL_SAFE_NO_PAD
                    .decode(key)
                    .ok()
                    .and_then(|k| String::from_utf8(k).ok())
                    .ok_or_else(invalid)?;
                Ok(CursorPosition {
                    seq: seq(feed)?,
                    backfill: Some(BackfillAt {
                        key,
                        seq: seq(backfill_seq)?,
                    }),
                })
            }
            _ => Err(invalid()),
        }
    }
}

impl FeedAnchor {
    /// The anchor naming `parts`.
    pub fn encode(parts: &AnchorParts) -> FeedAnchor {
        FeedAnchor(format!(
            "{FORMAT_PREFIX}{}.{}.{:016x}",
            parts.feed_id,
            parts.seq,
            u64::from_ne_bytes(parts.stamp.to_ne_bytes())
        ))
    }

    /// The anchor's parts, or `None` if it is not one this format writes.
    pub fn decode(&self) -> Option<AnchorParts> {
        let rest = self.0.strip_prefix(FORMAT_PREFIX)?;
        let parts: Vec<&str> = rest.split('.').collect();
        let [feed_id, seq, stamp] = parts.as_slice() else {
            return None;
        };
        let hex = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_hexdigit())
        };
        if !hex(feed_id, 64) || !hex(stamp, 16) || seq.len() > 19 {
            return None;
        }
        let stamp = u64::from_str_radix(stamp, 16).ok()?;
        Some(AnchorParts {
            feed_id: (*feed_id).to_owned(),
            seq: decimal(seq)?,
            stamp: i64::from_ne_bytes(stamp.to_ne_bytes()),
        })
    }
}

/// A non-negative decimal of ASCII digits only (no sign, no spaces).
fn decimal(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let plain = CursorPosition {
            seq: 9_000_000_042,
            backfill: None,
        };
        assert_eq!(Cursor::encode(&plain).decode(), Ok(plain));
        let backfilling = CursorPosition {
            seq: 7,
            backfill: Some(BackfillAt {
                key: "child:c-1.2".into(),
                seq: 3,
            }),
        };
        assert_eq!(Cursor::encode(&backfilling).decode(), Ok(backfilling));
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for bad in ["", "1.", "1.x", "2.1", "1.-3", "1.1.1", "1.+", "1.1.2.!!"] {
            assert_eq!(
                Cursor(bad.into()).decode(),
                Err(ForeignCursor(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn anchors_round_trip_and_foreign_ones_are_not_read() {
        for stamp in [0, 1, -1, i64::MIN, i64::MAX, 0x1b2c_3d4e_5f60_7182] {
            let parts = AnchorParts {
                feed_id: "4f1c9e2a7b3d4c5e8f9a0b1c2d3e4f50".into(),
                seq: 9_000_000_042,
                stamp,
            };
            assert_eq!(FeedAnchor::encode(&parts).decode(), Some(parts));
        }
        for bad in [
            "",
            "1.",
            "1.ab.1",
            "1.ab.-1.00",
            "1.zz.1.00",
            "1.ab.1.00000000000000000",
            "2.ab.1.00",
            "1.ab.1.00.7",
            "1.ab.99999999999999999999.00",
        ] {
            assert_eq!(FeedAnchor(bad.into()).decode(), None, "{bad}");
        }
    }
}
