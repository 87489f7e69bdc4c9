-- Fieldnotes server schema, PostgreSQL.

-- The merged state of each document, saved in automerge's compact form.
CREATE TABLE documents (
    doc_id        TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    child_id      TEXT,
    -- One line for listings (title, kind, date), so devices can list without loading.
    summary       TEXT NOT NULL,
    snapshot      BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE INDEX documents_child ON documents (child_id);

-- Every change ever accepted, with its attribution. Rows are never updated or deleted.
--
-- `seq` orders the change feed and must follow commit order (a reader must never see seq 11
-- committed while seq 10 can still commit). Writers insert change rows only while holding the
-- row lock on `feed_clock`, which they keep until commit; see crates/store/src/postgres.rs.
CREATE TABLE changes (
    seq            BIGSERIAL PRIMARY KEY,
    doc_id         TEXT NOT NULL REFERENCES documents (doc_id),
    hash           TEXT NOT NULL,
    bytes          BYTEA NOT NULL,
    actor          TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    device_time_ms BIGINT NOT NULL,
    UNIQUE (doc_id, hash)
);

CREATE INDEX changes_by_doc ON changes (doc_id, seq);

-- One row; its lock serialises the insertion of change rows (see above).
CREATE TABLE feed_clock (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    pushes BIGINT NOT NULL
);
INSERT INTO feed_clock (id, pushes) VALUES (1, 0);

-- Input the server would not apply, kept for an admin to see: nothing sent is dropped.
CREATE TABLE quarantine (
    id             BIGSERIAL PRIMARY KEY,
    device_id      TEXT,
    doc_id         TEXT,
    code           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    payload        BYTEA NOT NULL,
    size           BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL
);
