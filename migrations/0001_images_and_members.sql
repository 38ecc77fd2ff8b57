-- Images and their members. The schema lives here only; tests and `npm start` apply these files.

CREATE TABLE images (
  id               TEXT PRIMARY KEY NOT NULL,            -- lower-case canonical UUID
  owner            TEXT,                                 -- project id; NULL only for admin-created, ownerless images
  visibility       TEXT NOT NULL DEFAULT 'shared'
                   CHECK (visibility IN ('public', 'community', 'shared', 'private')),
  name             TEXT,
  disk_format      TEXT,
  container_format TEXT,
  size             INTEGER,
  virtual_size     INTEGER,
  status           TEXT NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'saving', 'active', 'killed', 'deleted', 'uploading',
                                     'importing', 'pending_delete', 'deactivated')),
  checksum         TEXT,
  os_hash_algo     TEXT,
  os_hash_value    TEXT,
  protected        INTEGER NOT NULL DEFAULT 0 CHECK (protected IN (0, 1)),
  os_hidden        INTEGER NOT NULL DEFAULT 0 CHECK (os_hidden IN (0, 1)),
  min_ram          INTEGER NOT NULL DEFAULT 0,
  min_disk         INTEGER NOT NULL DEFAULT 0,
  tags             TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
  properties       TEXT NOT NULL DEFAULT '{}' CHECK (json_type(properties) = 'object'),
  created_at       TEXT NOT NULL,                        -- YYYY-MM-DDThh:mm:ssZ, sorts as time
  updated_at       TEXT NOT NULL,
  revision         INTEGER NOT NULL DEFAULT 0            -- optimistic lock for PATCH and uploads
) STRICT;

CREATE TABLE image_members (
  image_id   TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  member_id  TEXT NOT NULL,                              -- opaque project id, compared exactly
  status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  -- The constraint itself answers 409 for a duplicate member, also under concurrent adds.
  UNIQUE (image_id, member_id)
) STRICT;

-- "Images where project X is a member" (the image list's shared branch).
CREATE INDEX image_members_by_member ON image_members (member_id, status, image_id);

-- The image list: default order, owner filter, visibility filter.
CREATE INDEX images_by_created ON images (created_at DESC, id DESC);
CREATE INDEX images_by_owner ON images (owner, created_at DESC, id DESC);
CREATE INDEX images_by_visibility ON images (visibility, created_at DESC, id DESC);
