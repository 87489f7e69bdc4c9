//! The device side of the Fieldnotes sync protocol, without I/O.
//!
//! This crate decides; it never reads a store, sends a request, reads a clock or draws a random
//! number. A device's sync is a loop its caller drives:
//!
//! 1. Read [`SyncState`] from the store (cursor, anchor, held scope keys, keys being removed,
//!    healing progress).
//! 2. While healing, read the own heads [`SyncState::verify_after`] names (at most
//!    [`MAX_VERIFY_DOCS`]).
//! 3. Fill the [`Batch`] [`SyncRun::batch`] hands out with outbox changes, in outbox order,
//!    until [`Batch::offer`] says it is full.
//! 4. [`SyncRun::round`] makes the [`Round`]: the [`fieldnotes_protocol::SyncRequest`] to send.
//! 5. Send it. A refusal of the whole request goes to [`SyncRun::refused`] (a request too
//!    large for the server is sent again in halves); an answer goes to [`SyncRun::respond`]
//!    with the [`Waiting`] changes of the scope keys [`Round::removals`] names (those it
//!    removes and those the device is removing), and comes back as a list of [`Effect`]s the
//!    store applies in one transaction.
//! 6. Go again while [`SyncRun::continues`] says so; [`SyncRun::finish`] gives the
//!    [`Summary`].
//!
//! Everything a round needs comes in as arguments and everything it decides goes out as plain
//! data, so the same core runs in the native SDK (SQLite), in a browser store, and for many
//! devices at once in one process (a simulated device is a [`SyncRun`] and an in-memory store
//! that applies effects).

mod effect;
mod error;
mod respond;
mod run;

pub use effect::{ChangeRef, Effect, Listing};
pub use error::SyncError;
pub use fieldnotes_protocol::MAX_VERIFY_DOCS;
pub use respond::{Refused, Summary, Waiting};
pub use run::{AfterRefusal, Batch, Limits, OutboxChange, Refusal, Round, SyncRun, SyncState};

#[cfg(test)]
mod tests;
