-- Indexes for GET /v2/images, checked by test/perf/query-plans.test.ts (EXPLAIN QUERY PLAN of
-- every statement the stores issue must not scan `images` or `image_members`).
--
-- Every sort key k gets (k, created_at, id): the list orders by k, then created_at and id as
-- tie-breakers in k's direction (sort_key/sort_dir, src/images/list.ts), so one all-ascending
-- index serves both directions (walked backwards for desc) and a page is an index walk that
-- stops at LIMIT instead of a scan and sort. The same index answers the equality filters on name, status,
-- owner and visibility in created_at order. 0001's owner and visibility indexes mixed
-- directions (owner ASC, created_at DESC, id DESC), which serves neither direction of a sort by
-- owner, so they are rebuilt uniform under the same names.
--
-- Not indexed: os_hidden (always filtered by equality, so images_by_created already gives its
-- order), id (the primary key) and created_at (images_by_created). Tags live in a JSON array
-- column read with json_each; no SQLite index reaches inside it, so a tag filter is checked per
-- row while walking the list's order index (a table of (image_id, tag) rows would be needed
-- to search by tag).

DROP INDEX IF EXISTS images_by_owner;
CREATE INDEX images_by_owner ON images (owner, created_at, id);
DROP INDEX IF EXISTS images_by_visibility;
CREATE INDEX images_by_visibility ON images (visibility, created_at, id);

CREATE INDEX images_by_name ON images (name, created_at, id);
CREATE INDEX images_by_status ON images (status, created_at, id);
CREATE INDEX images_by_updated ON images (updated_at, created_at, id);
CREATE INDEX images_by_size ON images (size, created_at, id);
CREATE INDEX images_by_virtual_size ON images (virtual_size, created_at, id);
CREATE INDEX images_by_disk_format ON images (disk_format, created_at, id);
CREATE INDEX images_by_container_format ON images (container_format, created_at, id);
CREATE INDEX images_by_min_ram ON images (min_ram, created_at, id);
CREATE INDEX images_by_min_disk ON images (min_disk, created_at, id);
CREATE INDEX images_by_protected ON images (protected, created_at, id);
