-- The feed's identity, so devices can tell when the database was restored from a backup or
-- replaced by a replica that missed the last transactions (docs/ARCHITECTURE.md, "The change
-- feed and its cursor").

-- A random id made once, when the database is created. A backup, a replica or a template copy
-- keeps it; a new, empty database gets another.
CREATE TABLE feed_identity (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    feed_id TEXT NOT NULL
) STRICT;
INSERT INTO feed_identity (id, feed_id) VALUES (1, lower(hex(randomblob(16))));

-- A random number per push, stored on each of its change rows. A device keeps (position,
-- stamp) of the newest row it has heard of; after a rollback that position is either missing
-- or was taken again by another push, with another stamp. Rows stored before this migration
-- have 0: they are never taken again by a new row, which always has a non-zero stamp.
ALTER TABLE changes ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;
