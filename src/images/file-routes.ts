import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { imageProject, requireImageCaller } from "../auth/strategy";
import type { AppEnv } from "../env";
import { ApiError } from "../http/errors";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { detailOf, log } from "../log";
import { discardImageData, getImageData, putImageData } from "./data";
import { abandonUpload, beginUpload, finishUpload, type StoredData } from "./file-store";
import { authorizer, DOWNLOAD, UPLOAD, uploadStateError } from "./rules";
import { imageParam, uploadHeaders } from "./schemas";
import { readImage } from "./store";

/** /v2/images/{image_id}/file: image data in and out (SPEC §8). */
export const imageFile = new Hono<AppEnv>();

const PATH = "/:image_id/file";
const OCTET_STREAM = "application/octet-stream";

allowOnly(imageFile, PATH, ["GET", "PUT"]);
imageFile.use(PATH, requireImageCaller);

/** 415 before anything else: Glance's request deserializer checks the type before the image. */
const octetStream = createMiddleware<AppEnv>(async (c, next) => {
  const type = c.req.header("Content-Type");
  const media = type?.split(";")[0]?.trim();
  if (media?.toLowerCase() !== OCTET_STREAM) {
    // Glance's words, including Python's None for a missing header.
    throw new ApiError(415, `Invalid content type ${type === undefined ? "None" : media}`);
  }
  await next();
});

imageFile.put(
  PATH,
  octetStream,
  validate("param", imageParam),
  validate("header", uploadHeaders),
  async (c) => {
    const project = imageProject(c);
    const az = authorizer(c.get("policy"), c.get("creds"));
    const { image_id } = c.req.valid("param");
    const length = c.req.valid("header")["content-length"] ?? null;
    const db = c.get("db");
    const uploadId = crypto.randomUUID();
    const { image, started } = await beginUpload(db, project, image_id.id, uploadId, az.guard(UPLOAD));
    if (!started || !image) {
      const ask = { image: image_id.raw };
      throw (
        az.refusal(UPLOAD, image, ask) ??
        (image && uploadStateError(image)) ??
        new Error("upload neither started nor refused")
      );
    }
    const id = image.id;
    let stored: StoredData;
    try {
      stored = await putImageData(c.env.IMAGE_DATA, id, c.req.raw.body, length, image.disk_format);
    } catch (err) {
      // Also when the client went away: waitUntil lets the image return to `queued` regardless.
      const restore = abandonUpload(db, id, uploadId).catch((e: unknown) =>
        logCleanup(c.get("requestId"), id, e),
      );
      c.executionCtx.waitUntil(restore);
      await restore;
      throw err;
    }
    let finished: boolean;
    try {
      finished = await finishUpload(db, id, uploadId, stored);
    } catch (err) {
      // D1 failed at the last step: give the image back (queued) and its data up, unless the
      // finish did commit, in which case the abandon matches nothing and the data stays.
      const cleanup = abandonUpload(db, id, uploadId)
        .then((back) => (back ? discardImageData(c.env.IMAGE_DATA, id, c.get("requestId")) : undefined))
        .catch((e: unknown) => logCleanup(c.get("requestId"), id, e));
      c.executionCtx.waitUntil(cleanup);
      await cleanup;
      throw err;
    }
    if (!finished) {
      // Deleted (or re-created) during the upload: what was stored belongs to nobody.
      await discardImageData(c.env.IMAGE_DATA, id, c.get("requestId"));
      throw new ApiError(
        410,
        `Image ${image_id.raw} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`,
      );
    }
    return c.body(null, 204);
  },
);

imageFile.get(PATH, validate("param", imageParam), async (c) => {
  const project = imageProject(c);
  const { image_id } = c.req.valid("param");
  const read = await readImage(c.get("db"), project, image_id.id);
  const image = authorizer(c.get("policy"), c.get("creds")).permit(DOWNLOAD, read, { image: image_id.raw });
  // Glance answers 204 No Content while an image has no data (queued, saving); a deactivated
  // image keeps its data, which only an admin got this far to read.
  if (image.status !== "active" && image.status !== "deactivated") return c.body(null, 204);
  const object = await getImageData(c.env.IMAGE_DATA, image.id, c.req.method === "HEAD");
  if (!object) return c.body(null, 204);
  const headers: Record<string, string> = {
    "Content-Type": OCTET_STREAM,
    "Content-Length": String(object.size),
  };
  // Glance sends the hex MD5 here (not RFC 1864's base64); python-glanceclient checks it.
  if (image.checksum) headers["Content-MD5"] = image.checksum;
  return object.body ? c.body(object.body, 200, headers) : c.body(null, 200, headers);
});

function logCleanup(requestId: string, imageId: string, err: unknown) {
  log.error(`image ${imageId} could not be returned to queued after a failed upload`, {
    request_id: requestId,
    detail: detailOf(err),
  });
}
