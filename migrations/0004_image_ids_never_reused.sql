-- Image ids are never reused (docs/reference.md §14, OSSN-0075): a consumer that boots "image X" by id must
-- never get somebody else's image X after the owner deleted theirs. `image_ids` holds every id an
-- image has ever had; nothing removes a row from it, so deleting an image keeps its id reserved.
--
-- The claim is made by the database, not by the code: inserting an image inserts its id here in
-- the same statement (trigger), and an id already here fails that statement with a UNIQUE
-- violation, which the store answers with 409. So every writer claims, including a Worker of
-- the previous release that is still serving while this migration is applied.
--
-- Safe on a live database: no table of 0001 is rebuilt (only a new table and triggers), and the
-- backfill runs after the trigger exists, in the same migration (one transaction), so an image
-- inserted by anybody at any time is reserved either by the backfill or by the trigger. OR IGNORE
-- makes the backfill harmless to run again. Ids of images deleted before this migration are not
-- known to the database any more and cannot be reserved by it.

CREATE TABLE IF NOT EXISTS image_ids (
  id TEXT PRIMARY KEY NOT NULL                           -- lower-case canonical UUID, as images.id
) STRICT, WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS image_ids_claim AFTER INSERT ON images
BEGIN
  INSERT INTO image_ids (id) VALUES (NEW.id);
END;

-- Never released, never changed: the reservation outlives whoever holds a handle on the table.
CREATE TRIGGER IF NOT EXISTS image_ids_kept BEFORE DELETE ON image_ids
BEGIN
  SELECT RAISE(ABORT, 'image ids are never released');
END;
CREATE TRIGGER IF NOT EXISTS image_ids_fixed BEFORE UPDATE ON image_ids
BEGIN
  SELECT RAISE(ABORT, 'image ids are never released');
END;
-- An image keeps the id it was created with (nothing updates images.id; this keeps it so).
CREATE TRIGGER IF NOT EXISTS images_id_fixed BEFORE UPDATE OF id ON images
WHEN NEW.id IS NOT OLD.id
BEGIN
  SELECT RAISE(ABORT, 'an image id never changes');
END;

INSERT OR IGNORE INTO image_ids (id) SELECT id FROM images;
