-- Restores and failovers of the server (client-sdk/src/sync.rs, docs/ARCHITECTURE.md "The
-- change feed and its cursor").

-- The newest change this device wrote to each document. Every earlier change of this device to
-- the document is among its ancestors, and a server stores a change only with its ancestors,
-- so a server that holds it holds them all: after a restore the device names these, and loads
-- only the documents whose newest change the server lacks.
CREATE TABLE own_heads (
    doc_id TEXT PRIMARY KEY NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
    hash   TEXT NOT NULL
) STRICT;

-- Stores made before this table: the newest change still waiting in the outbox. Documents
-- whose changes were all acknowledged are found by a scan at the first restore
-- (`own_heads_partial`).
INSERT INTO own_heads (doc_id, hash)
SELECT o.doc_id, o.hash FROM outbox o
WHERE o.seq = (SELECT MAX(i.seq) FROM outbox i WHERE i.doc_id = o.doc_id);
INSERT INTO meta (key, value)
SELECT 'own_heads_partial', '1' WHERE EXISTS (SELECT 1 FROM documents);

-- Each time the server was found restored: what this device sent again, and whether the person
-- has been told (once).
CREATE TABLE server_restores (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    detected_at_ms INTEGER NOT NULL,
    feed_id        TEXT NOT NULL,
    message        TEXT NOT NULL,
    checked_docs   INTEGER NOT NULL DEFAULT 0,
    resent_changes INTEGER NOT NULL DEFAULT 0,
    shown          INTEGER NOT NULL DEFAULT 0
) STRICT;
