import type { Db } from "../env";
import { ApiError } from "../http/errors";
import { detailOf, log } from "../log";
import { discardImageData, putImageData } from "./data";
import { abandonUpload, beginUpload, finishUpload, type StoredData } from "./file-store";
import { type Authorizer, UPLOAD, uploadStateError } from "./rules";
import type { ImageIdParam } from "./schemas";

/** PUT /v2/images/{image_id}/file (docs/reference.md §8): what one upload needs from its request. */
export interface Upload {
  db: Db;
  bucket: R2Bucket;
  project: string;
  az: Authorizer;
  image: ImageIdParam;
  body: ReadableStream<Uint8Array> | null;
  /** The declared Content-Length; null when chunked. */
  length: number | null;
  requestId: string;
  /** The request's waitUntil: cleanup outlives a client that went away. */
  waitUntil: (work: Promise<unknown>) => void;
}

/**
 * An upload from start to end: the image goes `saving` under the upload's rules, its bytes are
 * stored, and it becomes `active` with their figures. A failure on the way hands the image back
 * (`queued`) and its data up before the error is thrown; an image deleted meanwhile is a 410.
 */
export async function uploadImageData(u: Upload): Promise<void> {
  const uploadId = crypto.randomUUID();
  const { id, disk_format } = await startUpload(u, uploadId);
  let stored: StoredData;
  try {
    stored = await putImageData(u.bucket, id, u.body, u.length, disk_format);
  } catch (err) {
    // Also when the client went away: waitUntil lets the image return to `queued` regardless.
    await cleanUp(u, id, abandonUpload(u.db, id, uploadId));
    throw err;
  }
  let finished: boolean;
  try {
    finished = await finishUpload(u.db, id, uploadId, stored);
  } catch (err) {
    // D1 failed at the last step: give the image back (queued) and its data up, unless the
    // finish did commit, in which case the abandon matches nothing and the data stays.
    const back = abandonUpload(u.db, id, uploadId);
    await cleanUp(
      u,
      id,
      back.then((ok) => (ok ? discardImageData(u.bucket, id, u.requestId) : undefined)),
    );
    throw err;
  }
  if (!finished) {
    // Deleted (or re-created) during the upload: what was stored belongs to nobody.
    await discardImageData(u.bucket, id, u.requestId);
    throw new ApiError(
      410,
      `Image ${u.image.raw} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`,
    );
  }
}

/** Moves the image to `saving` for this upload, or throws why not (rules first, then its state). */
async function startUpload(u: Upload, uploadId: string) {
  const { image, started } = await beginUpload(u.db, u.project, u.image.id, uploadId, u.az.guard(UPLOAD));
  if (started && image) return image;
  throw (
    u.az.refusal(UPLOAD, image, { image: u.image.raw }) ??
    (image && uploadStateError(image)) ??
    new Error("upload neither started nor refused")
  );
}

/** Runs a failed upload's cleanup to its end even if the client leaves; its own failure is only logged. */
async function cleanUp(u: Upload, imageId: string, work: Promise<unknown>): Promise<void> {
  const done = work.catch((err: unknown) => {
    log.error(`image ${imageId} could not be returned to queued after a failed upload`, {
      request_id: u.requestId,
      detail: detailOf(err),
    });
  });
  u.waitUntil(done);
  await done;
}
