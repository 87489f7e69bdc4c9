-- The device's offline store. Everything a practitioner records is committed here before the
-- app says it is saved; the server is only told later, from the outbox.

-- Device identity, the server address and the sync cursor.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- Each document's merged state, in automerge's compact saved form, with a few columns for
-- listing without loading every document.
CREATE TABLE documents (
    doc_id        TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    child_id      TEXT,
    summary       TEXT NOT NULL,
    snapshot      BLOB NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX documents_kind ON documents (kind, updated_at_ms);

-- Changes made on this device that the server has not acknowledged yet, oldest first. A row
-- leaves only when the server says the change is durably stored. A change the server refused
-- is held (with the reason) and not sent again until the document is edited.
CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id        TEXT NOT NULL REFERENCES documents (doc_id),
    hash          TEXT NOT NULL UNIQUE,
    bytes         BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    held_code     TEXT,
    held_reason   TEXT,
    held_at_ms    INTEGER
) STRICT;

CREATE INDEX outbox_by_doc ON outbox (doc_id);
