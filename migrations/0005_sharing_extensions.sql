-- Sharing beyond Glance (docs/reference.md §12): memberships that expire, share listings, an audit trail.
--
-- Expiry. `image_members.expires_at` (NULL: never). From that second on the membership is gone
-- for every purpose, decided by the database at request time: every read of memberships goes
-- through the view `live_members`, every write of one carries LIVE_MEMBER's condition
-- (src/members/live.ts), and test/sharing/expiry.test.ts checks that no statement of src/ reads
-- `image_members` past them. Expired rows are only clutter until the Cron Trigger purges them.
--
-- Audit. Each change of a membership row appends its record to `member_events` from a trigger,
-- so the record is written by the very statement that makes the change (one transaction: a
-- change that rolls back leaves no record, and no record exists without its change), whoever
-- writes. Who asked is what the batch wrote into `change_context` first (one row, removed by
-- the batch's last statement; D1 runs a batch as one transaction on a single writer, so no
-- other request sees it). Without a context row the record has no actor.
--
-- Safe on a live database: a nullable column, new tables, a view, indexes and triggers; no
-- table is rebuilt.

ALTER TABLE image_members ADD COLUMN expires_at TEXT;   -- YYYY-MM-DDThh:mm:ssZ or NULL

CREATE VIEW live_members AS
  SELECT image_id, member_id, status, created_at, updated_at, expires_at
  FROM image_members
  WHERE expires_at IS NULL OR expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now');

-- The Cron Trigger's purge walks this (only rows that can expire are in it).
CREATE INDEX image_members_by_expiry ON image_members (expires_at) WHERE expires_at IS NOT NULL;
-- GET /v2/shares: an admin's listing and a member's inbox, in the listing's order.
CREATE INDEX image_members_by_created ON image_members (created_at, image_id, member_id);
CREATE INDEX image_members_by_member_created ON image_members (member_id, created_at, image_id);

CREATE TABLE change_context (
  id            INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
  actor_project TEXT,
  actor_user    TEXT,
  request_id    TEXT,
  -- What a DELETE of a membership is, when the batch knows better than the row ('expire' for the purge).
  delete_action TEXT CHECK (delete_action IN ('expire', 'delete', 'image-delete')),
  -- POST /v2/shares: whether every image of the call passed its rules and quota (all or nothing).
  gate          INTEGER
) STRICT;

CREATE TABLE member_events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,         -- never reused: the listing's marker
  at          TEXT NOT NULL,
  action      TEXT NOT NULL CHECK (action IN ('create', 'update', 'expire', 'delete', 'image-delete')),
  image_id    TEXT NOT NULL,                             -- no foreign key: records outlive the image
  image_owner TEXT,
  member_id   TEXT NOT NULL,
  status      TEXT NOT NULL,
  expires_at  TEXT,
  actor_project TEXT,
  actor_user  TEXT,
  request_id  TEXT
) STRICT;

-- GET /v2/member-events, newest first: a member's records, an owner's, an image's; the retention purge.
CREATE INDEX member_events_by_member ON member_events (member_id, id);
CREATE INDEX member_events_by_owner ON member_events (image_owner, id);
CREATE INDEX member_events_by_image ON member_events (image_id, id);
CREATE INDEX member_events_by_at ON member_events (at);

CREATE TRIGGER member_events_create AFTER INSERT ON image_members
BEGIN
  INSERT INTO member_events (at, action, image_id, image_owner, member_id, status, expires_at,
                             actor_project, actor_user, request_id)
  SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'create', NEW.image_id,
         (SELECT owner FROM images WHERE id = NEW.image_id), NEW.member_id, NEW.status, NEW.expires_at,
         x.actor_project, x.actor_user, x.request_id
  FROM (SELECT 1) LEFT JOIN change_context x ON x.id = 1;
END;

CREATE TRIGGER member_events_update AFTER UPDATE ON image_members
BEGIN
  INSERT INTO member_events (at, action, image_id, image_owner, member_id, status, expires_at,
                             actor_project, actor_user, request_id)
  SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'update', NEW.image_id,
         (SELECT owner FROM images WHERE id = NEW.image_id), NEW.member_id, NEW.status, NEW.expires_at,
         x.actor_project, x.actor_user, x.request_id
  FROM (SELECT 1) LEFT JOIN change_context x ON x.id = 1;
END;

-- A membership deleted while its image still exists: by the API ('delete'), or because it had
-- expired (the purge, or a re-add that replaces an expired row: 'expire', no actor).
CREATE TRIGGER member_events_delete AFTER DELETE ON image_members
WHEN EXISTS (SELECT 1 FROM images WHERE id = OLD.image_id)
BEGIN
  INSERT INTO member_events (at, action, image_id, image_owner, member_id, status, expires_at,
                             actor_project, actor_user, request_id)
  SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), a.action, OLD.image_id,
         (SELECT owner FROM images WHERE id = OLD.image_id), OLD.member_id, OLD.status, OLD.expires_at,
         CASE a.action WHEN 'expire' THEN NULL ELSE x.actor_project END,
         CASE a.action WHEN 'expire' THEN NULL ELSE x.actor_user END,
         CASE a.action WHEN 'expire' THEN NULL ELSE x.request_id END
  FROM (SELECT 1) LEFT JOIN change_context x ON x.id = 1,
       (SELECT COALESCE(
          (SELECT delete_action FROM change_context WHERE id = 1),
          CASE WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
               THEN 'expire' ELSE 'delete' END) AS action) a;
END;

-- Deleting an image removes its memberships (ON DELETE CASCADE, which runs after the image row
-- is gone): their records are written here, while the image's owner is still known.
CREATE TRIGGER member_events_image_delete BEFORE DELETE ON images
BEGIN
  INSERT INTO member_events (at, action, image_id, image_owner, member_id, status, expires_at,
                             actor_project, actor_user, request_id)
  SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), m.action, m.image_id, OLD.owner, m.member_id,
         m.status, m.expires_at,
         CASE m.action WHEN 'expire' THEN NULL ELSE x.actor_project END,
         CASE m.action WHEN 'expire' THEN NULL ELSE x.actor_user END,
         CASE m.action WHEN 'expire' THEN NULL ELSE x.request_id END
  FROM (SELECT image_id, member_id, status, expires_at, created_at,
               CASE WHEN expires_at IS NOT NULL AND expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
                    THEN 'expire' ELSE 'image-delete' END AS action
        FROM image_members WHERE image_id = OLD.id) m
  LEFT JOIN change_context x ON x.id = 1
  ORDER BY m.created_at, m.member_id;
END;
