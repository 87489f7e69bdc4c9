-- Usernames are unique without regard to case ("Sw-A1" and "sw-a1" are one account), and
-- sign-in matches them that way. Usernames are ASCII (letters, digits, '-', '_', '.', '@'), so
-- SQLite's lower() and PostgreSQL's agree.
--
-- Two existing accounts whose usernames differ only in case stop this migration: the CHECK
-- below fails, naming the problem, and nothing is changed. Rename one of each pair (with the
-- version of the server that created them), then start this version again. Find them with:
--   SELECT lower(username), group_concat(username) FROM users
--   GROUP BY lower(username) HAVING count(*) > 1;
CREATE TABLE migration_0005_check (
    clash TEXT,
    CONSTRAINT "two accounts have usernames that differ only in case; rename one of each pair (see migrations/README.md)" CHECK (clash IS NULL)
) STRICT;
INSERT INTO migration_0005_check (clash)
    SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1;
DROP TABLE migration_0005_check;

CREATE UNIQUE INDEX users_username_nocase ON users (lower(username));
