-- People, structure and access: teams (pods), users, children, allocations, referrals, devices
-- and their sessions, time-limited access outside allocation, and the audit log. Also gives
-- every document a scope key, which decides who may see and write it.

-- `child:ID` for records about a child, `worker:ID` for a worker's own records. Documents
-- stored before this migration get theirs on their next write; until then only admins see
-- the ones that are not about a child.
ALTER TABLE documents ADD COLUMN scope_key TEXT NOT NULL DEFAULT '';
UPDATE documents SET scope_key = 'child:' || child_id WHERE child_id IS NOT NULL;
CREATE INDEX documents_scope ON documents (scope_key);

CREATE TABLE teams (
    team_id         TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    -- Opted in: every social worker in the team can read the team's cases.
    pod_read_access BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms   BIGINT NOT NULL
);

CREATE TABLE users (
    user_id          TEXT PRIMARY KEY,
    username         TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('social_worker', 'youth_worker', 'manager', 'admin')),
    team_id          TEXT REFERENCES teams (team_id),
    -- Argon2id in PHC string form; NULL for people who sign in through the identity provider.
    password_hash    TEXT,
    external_subject TEXT UNIQUE,
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    created_at_ms    BIGINT NOT NULL
);

CREATE TABLE children (
    child_id      TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    team_id       TEXT NOT NULL REFERENCES teams (team_id),
    created_at_ms BIGINT NOT NULL
);

CREATE INDEX children_team ON children (team_id);

-- Every allocation ever made: rows are ended, never deleted, so the number of different
-- workers a child has had can be reported. At most one current allocation per child.
CREATE TABLE allocations (
    allocation_id BIGSERIAL PRIMARY KEY,
    child_id      TEXT NOT NULL REFERENCES children (child_id),
    worker_id     TEXT NOT NULL REFERENCES users (user_id),
    started_at_ms BIGINT NOT NULL,
    allocated_by  TEXT NOT NULL,
    ended_at_ms   BIGINT,
    ended_by      TEXT
);

CREATE UNIQUE INDEX allocations_current ON allocations (child_id) WHERE ended_at_ms IS NULL;
CREATE INDEX allocations_worker ON allocations (worker_id, ended_at_ms);

-- A youth worker's involvement with a young person, asked for by the case holder.
CREATE TABLE referrals (
    referral_id     BIGSERIAL PRIMARY KEY,
    child_id        TEXT NOT NULL REFERENCES children (child_id),
    youth_worker_id TEXT NOT NULL REFERENCES users (user_id),
    referred_by     TEXT NOT NULL,
    starts_on       TEXT NOT NULL,
    planned_end     TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    ended_at_ms     BIGINT,
    ended_by        TEXT
);

CREATE INDEX referrals_worker ON referrals (youth_worker_id, ended_at_ms);
CREATE INDEX referrals_child ON referrals (child_id);

-- A device, registered at sign-in with the automerge actor id it writes with.
CREATE TABLE devices (
    device_id        TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (user_id),
    name             TEXT NOT NULL,
    actor_id         TEXT NOT NULL UNIQUE,
    -- The secret that unlocks the device's encrypted store after an online sign-in.
    store_key        BYTEA NOT NULL,
    registered_at_ms BIGINT NOT NULL,
    last_sync_ms     BIGINT,
    revoked_at_ms    BIGINT,
    revoked_by       TEXT,
    -- The current session; NULL when signed out or ended for refresh-token reuse.
    session_id       TEXT
);

CREATE INDEX devices_user ON devices (user_id);

-- Refresh tokens, stored as SHA-256 hashes. Each is good for one refresh.
CREATE TABLE refresh_tokens (
    token_hash    TEXT PRIMARY KEY,
    device_id     TEXT NOT NULL REFERENCES devices (device_id),
    session_id    TEXT NOT NULL,
    issued_at_ms  BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms    BIGINT
);

CREATE INDEX refresh_tokens_device ON refresh_tokens (device_id);

-- Access to a child outside allocation (a duty worker covering a colleague), with a reason.
CREATE TABLE access_grants (
    grant_id      BIGSERIAL PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (user_id),
    child_id      TEXT NOT NULL REFERENCES children (child_id),
    reason        TEXT NOT NULL,
    granted_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

CREATE INDEX access_grants_user ON access_grants (user_id, expires_at_ms);
CREATE INDEX access_grants_child ON access_grants (child_id);

-- Append-only: rows are never updated or deleted.
CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    user_id   TEXT,
    device_id TEXT,
    action    TEXT NOT NULL,
    child_id  TEXT,
    doc_id    TEXT,
    details   TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_by_child ON audit_log (child_id, id);
CREATE INDEX audit_by_user ON audit_log (user_id, id);

-- Server-wide secrets made on first start (the access-token signing key), so that several
-- servers sharing one database sign and check tokens alike.
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Pending review per device, for the device list.
CREATE INDEX quarantine_device ON quarantine (device_id);
