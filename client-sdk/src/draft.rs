//! Drafts: what a form holds before the person saves it, kept sealed on the device as they
//! type, so that a closed tab, a reload or a flat battery loses nothing. A draft is not a
//! record: it is never synced, and it goes when the form is saved or given up.

use crate::{Client, ClientError};

/// The longest name of a form's draft.
const MAX_FORM_CHARS: usize = 100;

/// The meta key a draft is kept under. Form names are the app's own (`visit-note-new`, or a
/// record id): never a child's id, which stays out of the store in the clear.
fn draft_key(form: &str) -> Result<String, ClientError> {
    if form.is_empty()
        || form.chars().count() > MAX_FORM_CHARS
        || !form
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ClientError::Config(format!(
            "a draft's form name is 1 to {MAX_FORM_CHARS} letters, digits, '-' or '_', got {form:?}"
        )));
    }
    Ok(format!("draft:{form}"))
}

impl Client {
    /// Keep `draft` (the form's own encoding) for the form `form`, sealed, replacing what was
    /// kept before. Returns once it is durable on the device.
    pub async fn keep_draft(&self, form: &str, draft: &[u8]) -> Result<(), ClientError> {
        let key = draft_key(form)?;
        let keys = self.keys()?;
        let mut tx = self.store.begin().await?;
        tx.set_sealed_meta(&keys, &key, draft).await?;
        self.store.commit(tx).await
    }

    /// The draft kept for `form`, if any.
    pub async fn draft(&self, form: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let key = draft_key(form)?;
        let keys = self.keys()?;
        self.store.sealed_meta(&keys, &key).await
    }

    /// Forget the draft of `form` (saved as a record, or given up).
    pub async fn drop_draft(&self, form: &str) -> Result<(), ClientError> {
        let key = draft_key(form)?;
        let mut tx = self.store.begin().await?;
        tx.delete_meta(&key).await?;
        self.store.commit(tx).await
    }
}
