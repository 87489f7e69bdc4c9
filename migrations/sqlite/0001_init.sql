-- Fieldnotes server schema, SQLite (the embedded default).

-- The merged state of each document, saved in automerge's compact form.
CREATE TABLE documents (
    doc_id        TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    child_id      TEXT,
    -- One line for listings (title, kind, date), so devices can list without loading.
    summary       TEXT NOT NULL,
    snapshot      BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX documents_child ON documents (child_id);

-- Every change ever accepted, with its attribution. The history is the record: rows are never
-- updated or deleted. `seq` orders the change feed; SQLite's single writer commits in `seq`
-- order and the feed can page on `seq` alone.
CREATE TABLE changes (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id         TEXT NOT NULL REFERENCES documents (doc_id),
    hash           TEXT NOT NULL,
    bytes          BLOB NOT NULL,
    actor          TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    device_time_ms INTEGER NOT NULL,
    UNIQUE (doc_id, hash)
) STRICT;

CREATE INDEX changes_by_doc ON changes (doc_id, seq);

-- Input the server would not apply, kept for an admin to see: nothing sent is dropped.
CREATE TABLE quarantine (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id      TEXT,
    doc_id         TEXT,
    code           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    payload        BLOB NOT NULL,
    size           INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL
) STRICT;
