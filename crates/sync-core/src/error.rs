//! Answers a device cannot use.

use fieldnotes_protocol::PROTOCOL_VERSION;

/// An answer the sync stops on. Nothing of it is applied; the outbox keeps everything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("the server answered in protocol {server}, this app speaks {PROTOCOL_VERSION}")]
    UnsupportedProtocol { server: u32 },
    #[error(
        "the server said its data was restored again and again in one sync; your work is kept \
         on this device. Try again later, and tell your administrator if it goes on"
    )]
    ResetLoop,
}

impl SyncError {
    /// A stable machine code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::UnsupportedProtocol { .. } => "unsupported_protocol",
            SyncError::ResetLoop => "feed_reset_loop",
        }
    }
}
