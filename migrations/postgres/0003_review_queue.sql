-- The review queue: what a merge could not decide on its own (concurrent values of one field,
-- amendments to locked records, plans over their limit, documents made invalid by a merge),
-- waiting for a manager or admin. Items are decided, never deleted.

-- A team's limit on short-plan points (a plan is "often no more than three points").
ALTER TABLE teams ADD COLUMN plan_point_limit BIGINT NOT NULL DEFAULT 3;

CREATE TABLE review_items (
    item_id        BIGSERIAL PRIMARY KEY,
    doc_id         TEXT NOT NULL,
    doc_kind       TEXT NOT NULL,
    child_id       TEXT,
    -- The child's team when the item was raised (the filter managers use).
    team_id        TEXT,
    -- conflict | amendment | pending_amendment | plan_limit | invalid_merge
    item_kind      TEXT NOT NULL,
    -- The field at issue ('' for the whole record); with item_kind and doc_id it identifies an
    -- open item, which a later push updates instead of duplicating.
    field          TEXT NOT NULL DEFAULT '',
    -- open | resolved | dismissed
    status         TEXT NOT NULL DEFAULT 'open',
    summary        TEXT NOT NULL,
    -- JSON: the competing values, each with its change, actor and times.
    sides          TEXT NOT NULL,
    -- JSON: the document's heads when the item was last raised or updated.
    seen_heads     TEXT NOT NULL,
    -- The device whose push raised or last updated the item (the device list counts them).
    raised_by_device TEXT,
    created_at_ms  BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL,
    decided_by     TEXT,
    decided_device TEXT,
    decided_at_ms  BIGINT,
    -- JSON: what was decided and why.
    decision       TEXT
);

CREATE UNIQUE INDEX review_open_once ON review_items (doc_id, item_kind, field) WHERE status = 'open';
CREATE INDEX review_by_status ON review_items (status, item_id);
CREATE INDEX review_by_team ON review_items (team_id, status, item_id);
CREATE INDEX review_by_child ON review_items (child_id, status, item_id);
CREATE INDEX review_by_doc ON review_items (doc_id);
CREATE INDEX review_by_device ON review_items (raised_by_device, status);
