import type { ProjectCaller } from "../auth/caller";
import { flag, now } from "../db/sql";
import type { Db } from "../env";
import { IMAGE_COLUMNS, type ImageRow, visibleTo } from "./store";

/** The SQL of image data state (SPEC §8): queued → saving → active, or back to queued. */

/** What an upload learnt when it ends: the figures of the bytes it stored. */
export interface StoredData {
  size: number;
  checksum: string;
  os_hash_algo: "sha512";
  os_hash_value: string;
}

/**
 * Moves the image to `saving` for this upload, in one statement guarded by everything Glance
 * checks (owner or admin, status `queued`, disk and container formats set), batched with the
 * read that explains a refusal. `image` is the image as the caller saw it before, null when not
 * visible.
 */
export async function beginUpload(
  db: Db,
  caller: ProjectCaller,
  id: string | null,
  uploadId: string,
): Promise<{ image: ImageRow | null; started: boolean }> {
  const read = db
    .prepare(`SELECT ${IMAGE_COLUMNS} FROM images i WHERE i.id = ?1 AND ${visibleTo("?2", "?3")}`)
    .bind(id, flag(caller.isAdmin), caller.projectId);
  const start = db
    .prepare(
      `UPDATE images SET status = 'saving', upload_id = ?4, updated_at = ?5, revision = revision + 1
       WHERE id = ?1 AND status = 'queued' AND (?2 = 1 OR owner = ?3)
         AND disk_format IS NOT NULL AND container_format IS NOT NULL
       RETURNING id`,
    )
    .bind(id, flag(caller.isAdmin), caller.projectId, uploadId, now());
  const [before, started] = await db.batch<unknown>([read, start]);
  return {
    image: (before?.results[0] as ImageRow | undefined) ?? null,
    started: (started?.results.length ?? 0) > 0,
  };
}

/** The upload's bytes are stored: one statement makes the image `active` with their figures. */
export async function finishUpload(db: Db, id: string, uploadId: string, data: StoredData): Promise<boolean> {
  const done = await db
    .prepare(
      `UPDATE images SET status = 'active', size = ?3, checksum = ?4, os_hash_algo = ?5, os_hash_value = ?6,
         upload_id = NULL, updated_at = ?7, revision = revision + 1
       WHERE id = ?1 AND status = 'saving' AND upload_id = ?2
       RETURNING id`,
    )
    .bind(id, uploadId, data.size, data.checksum, data.os_hash_algo, data.os_hash_value, now())
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
