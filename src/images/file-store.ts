import { now, Params } from "../db/sql";
import type { Db } from "../env";
import { factsOf, type Guard, type ImageFacts, readFacts, wrote } from "./store";

/** The SQL of image data state (docs/reference.md §8): queued → saving → active, or back to queued. */

/** What an upload learnt when it ends: the figures of the bytes it stored. */
export interface StoredData {
  size: number;
  virtual_size: number | null;
  checksum: string;
  os_hash_algo: "sha512";
  os_hash_value: string;
}

/**
 * Moves the image to `saving` for this upload, in one statement guarded by the route's rules
 * and by the upload's own conditions (status `queued`, disk and container formats set), batched
 * with the read that explains a refusal. `image` is the image as the rules saw it, null when
 * there is none.
 */
export async function beginUpload(
  db: Db,
  project: string,
  id: string | null,
  uploadId: string,
  guard: Guard,
): Promise<{ image: ImageFacts | null; started: boolean }> {
  const p = new Params(id, uploadId, now());
  const start = db
    .prepare(
      `UPDATE images AS i SET status = 'saving', upload_id = ?2, updated_at = ?3, revision = revision + 1
       WHERE i.id = ?1 AND i.status = 'queued'
         AND i.disk_format IS NOT NULL AND i.container_format IS NOT NULL AND ${guard(p.param)}
       RETURNING id`,
    )
    .bind(...p.values);
  const [before, started] = await db.batch<unknown>([readFacts(db, project, id), start]);
  return { image: factsOf(before), started: wrote(started) };
}

/** The upload's bytes are stored: one statement makes the image `active` with their figures. */
export async function finishUpload(db: Db, id: string, uploadId: string, data: StoredData): Promise<boolean> {
  const done = await db
    .prepare(
      `UPDATE images SET status = 'active', size = ?3, checksum = ?4, os_hash_algo = ?5, os_hash_value = ?6,
         virtual_size = ?8, upload_id = NULL, updated_at = ?7, revision = revision + 1
       WHERE id = ?1 AND status = 'saving' AND upload_id = ?2
       RETURNING id`,
    )
    .bind(
      id,
      uploadId,
      data.size,
      data.checksum,
      data.os_hash_algo,
      data.os_hash_value,
      now(),
      data.virtual_size,
    )
    .first<{ id: string }>();
  return done !== null;
}

/** The upload failed: the image goes back to `queued` (Glance's _restore) so it can be retried. */
export async function abandonUpload(db: Db, id: string, uploadId: string): Promise<boolean> {
  const back = await db
    .prepare(
      `UPDATE images SET status = 'queued', upload_id = NULL, updated_at = ?3, revision = revision + 1
       WHERE id = ?1 AND status = 'saving' AND upload_id = ?2
       RETURNING id`,
    )
    .bind(id, uploadId, now())
    .first<{ id: string }>();
  return back !== null;
}
