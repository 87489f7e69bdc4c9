-- Encryption at rest (see client-sdk/src/crypto.rs). Content is sealed with the store's data
-- key, which is unlocked by the person's sign-in and held only in memory.
--
-- Rows written by the first version of the app are plaintext (`enc = 0`). They stay readable,
-- and are sealed in one transaction on the store's first unlock (then the file is vacuumed), so
-- an upgrade loses no work.

-- documents: when `enc = 1`, `snapshot` is sealed, `listing` holds the sealed child id and
-- summary (`child_id` is NULL and `summary` empty), and `scope_tag` is a keyed hash of the
-- document's scope key (`child:ID`, `worker:ID`), so a scope's documents can be found for
-- removal without storing the child id in the clear.
ALTER TABLE documents ADD COLUMN enc INTEGER NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN listing BLOB;
ALTER TABLE documents ADD COLUMN scope_tag BLOB;

CREATE INDEX documents_scope ON documents (scope_tag);
-- Finds the rows still to seal at unlock without reading every row (empty once sealed).
CREATE INDEX documents_plaintext ON documents (doc_id) WHERE enc = 0;

-- outbox: when `enc = 1`, `bytes` is sealed and a held change's reason is in `held_note`
-- (sealed; `held_reason` is NULL). `held_code` stays plain: it is a code, not a person's words.
ALTER TABLE outbox ADD COLUMN enc INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN held_note BLOB;

CREATE INDEX outbox_plaintext ON outbox (seq) WHERE enc = 0;
