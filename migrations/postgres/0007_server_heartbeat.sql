-- One row the readiness probe writes (and commits) to check the database takes writes: a full
-- disk, a read-only database or a replica in recovery fails here, not first on a device's push.
CREATE TABLE server_heartbeat (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    at_ms BIGINT NOT NULL
);
