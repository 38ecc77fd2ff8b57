import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { imageProject, requireImageCaller } from "../auth/strategy";
import type { AppEnv } from "../env";
import { ApiError } from "../http/errors";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { getImageData } from "./data";
import { authorizer, DOWNLOAD } from "./rules";
import { imageParam, uploadHeaders } from "./schemas";
import { readImage } from "./store";
import { uploadImageData } from "./upload";

/** /v2/images/{image_id}/file: image data in and out (docs/reference.md §8). */
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
    await uploadImageData({
      db: c.get("db"),
      bucket: c.env.IMAGE_DATA,
      project: imageProject(c),
      az: authorizer(c.get("policy"), c.get("creds")),
      image: c.req.valid("param").image_id,
      body: c.req.raw.body,
      length: c.req.valid("header")["content-length"] ?? null,
      requestId: c.get("requestId"),
      waitUntil: (work) => c.executionCtx.waitUntil(work),
    });
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
