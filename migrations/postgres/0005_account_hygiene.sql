-- Usernames are unique without regard to case ("Sw-A1" and "sw-a1" are one account), and
-- sign-in matches them that way. Usernames are ASCII (letters, digits, '-', '_', '.', '@'), so
-- SQLite's lower() and PostgreSQL's agree.
--
-- Two existing accounts whose usernames differ only in case stop this migration with a message
-- naming them, and nothing is changed. Rename one of each pair (with the version of the server
-- that created them), then start this version again.
DO $$
DECLARE
    clashes TEXT;
BEGIN
    SELECT string_agg(names, '; ') INTO clashes FROM (
        SELECT string_agg(username, ' and ' ORDER BY username) AS names
        FROM users GROUP BY lower(username) HAVING count(*) > 1
    ) AS pairs;
    IF clashes IS NOT NULL THEN
        RAISE EXCEPTION 'two accounts have usernames that differ only in case (%); rename one of each pair (see migrations/README.md), then start the server again', clashes;
    END IF;
END
$$;

CREATE UNIQUE INDEX users_username_nocase ON users (lower(username));
