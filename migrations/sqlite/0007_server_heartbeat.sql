-- One row the readiness probe writes (and commits) to check the database takes writes: a full
-- disk or a read-only file fails here, not first on a device's push.
CREATE TABLE server_heartbeat (
    id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    at_ms INTEGER NOT NULL
) STRICT;
