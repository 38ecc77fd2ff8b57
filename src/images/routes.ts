import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { projectCaller, requireProject } from "../auth/strategy";
import type { AppEnv } from "../env";
import { IMAGE_BODY_LIMIT, jsonBody } from "../http/body";
import { ApiError } from "../http/errors";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { discardImageData } from "./data";
import { pageLinks, planList } from "./list";
import { applyPatch } from "./patch";
import { checkDeletable, checkOwner, checkOwnershipAndVisibility, checkWritableKeys, noImage } from "./rules";
import { createImageBody, imageDocument, imageParam, listQuery, patchBodyV20, patchBodyV21 } from "./schemas";
import { createImage, deleteImage, documentOf, getVisibleImage, listImages, updateImage } from "./store";
import { imageView } from "./view";

/** /v2/images and /v2/images/{image_id} (SPEC §8). */
export const images = new Hono<AppEnv>();

const V21 = "application/openstack-images-v2.1-json-patch";
const V20 = "application/openstack-images-v2.0-json-patch";
const PATCH_TYPES = [V21, V20];

allowOnly(images, "/", ["GET", "POST"]);
allowOnly(images, "/:image_id", ["GET", "PATCH", "DELETE"]);
images.use("/", requireProject);
images.use("/:image_id", requireProject);
// Before jsonBody, which presents every body as application/json.
images.patch("/:image_id", async (c, next) => {
  const type = (c.req.header("Content-Type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (!PATCH_TYPES.includes(type)) {
    throw new ApiError(415, `Unsupported Content-Type`, { "Accept-Patch": PATCH_TYPES.join(", ") });
  }
  c.set("patchFormat", type === V20 ? "v2.0" : "v2.1");
  await next();
});
images.use("/", jsonBody(IMAGE_BODY_LIMIT));
images.use("/:image_id", jsonBody(IMAGE_BODY_LIMIT));

/** Validates a whole image document the way Glance does after its read-only checks. */
function checkDocument(doc: unknown) {
  const parsed = imageDocument.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new ApiError(
      400,
      `Provided object does not match schema 'image': ${where}${issue?.message ?? "invalid"}`,
    );
  }
  return parsed.data;
}

images.post("/", validate("json", createImageBody), async (c) => {
  const caller = projectCaller(c.get("caller"));
  const { id: requestedId, ...body } = c.req.valid("json");
  checkWritableKeys(Object.keys(body));
  const doc = checkDocument(body);
  checkOwnershipAndVisibility(caller, doc, null);
  if (!("owner" in doc)) doc.owner = caller.projectId;
  const id = (requestedId ?? crypto.randomUUID()).toLowerCase();
  const row = await createImage(c.get("db"), id, doc);
  if (!row) throw new ApiError(409, `Image with identifier ${id} already exists!`);
  return c.json(imageView(row), 201, { Location: new URL(`/v2/images/${id}`, c.req.url).href });
});

images.get("/", validate("query", listQuery), async (c) => {
  const caller = projectCaller(c.get("caller"));
  const plan = planList(caller, c.req.valid("query"));
  const { markerFound, rows } = await listImages(c.get("db"), plan);
  if (!markerFound) throw new ApiError(400, `Invalid marker. Image ${plan.marker} could not be found.`);
  const full = rows.length > 0 && rows.length === plan.limit;
  const links = pageLinks(new URL(c.req.url), full ? (rows.at(-1)?.id ?? null) : null);
  return c.json({ images: rows.map(imageView), ...links, schema: "/v2/schemas/images" });
});

images.get("/:image_id", validate("param", imageParam), async (c) => {
  const caller = projectCaller(c.get("caller"));
  const { image_id } = c.req.valid("param");
  const row = await getVisibleImage(c.get("db"), caller, image_id.id);
  if (!row) throw noImage(image_id.raw);
  return c.json(imageView(row));
});

/** Glance's older v2.0 changes, rewritten into the v2.1 form so that one validator serves both. */
const fromV20 = createMiddleware<AppEnv>(async (c, next) => {
  if (c.get("patchFormat") === "v2.0") {
    const parsed = patchBodyV20.safeParse(await c.req.json());
    if (!parsed.success) throw new ApiError(400, parsed.error.issues[0]?.message ?? "Invalid change.");
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(JSON.stringify(parsed.data));
  }
  await next();
});

images.patch(
  "/:image_id",
  fromV20,
  validate("json", patchBodyV21),
  validate("param", imageParam),
  async (c) => {
    const caller = projectCaller(c.get("caller"));
    const { image_id } = c.req.valid("param");
    const ops = c.req.valid("json");
    // Optimistic: apply the patch to what was read, write only if nobody wrote in between.
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await getVisibleImage(c.get("db"), caller, image_id.id);
      if (!row) throw noImage(image_id.raw);
      checkOwner(caller, { owner: row.owner, visibility: row.visibility, protected: row.protected === 1 });
      const before = documentOf(row);
      const doc = checkDocument(applyPatch(before, ops));
      checkOwnershipAndVisibility(caller, doc, { owner: row.owner, visibility: row.visibility });
      const updated = await updateImage(c.get("db"), row.id, row.revision, doc);
      if (updated) return c.json(imageView(updated));
    }
    throw new ApiError(409, "The image was changed by another request; try again.");
  },
);

images.delete("/:image_id", validate("param", imageParam), async (c) => {
  const caller = projectCaller(c.get("caller"));
  const { image_id } = c.req.valid("param");
  const { image, deleted } = await deleteImage(c.get("db"), caller, image_id.id);
  if (!image) throw noImage(image_id.raw);
  if (!deleted) {
    checkDeletable(caller, image_id.raw, {
      owner: image.owner,
      visibility: image.visibility,
      protected: image.protected === 1,
    });
    throw new Error("image delete neither done nor refused");
  }
  // Awaited rather than left to waitUntil: a 204 then means the data is gone too.
  await discardImageData(c.env.IMAGE_DATA, image.id, c.get("requestId"));
  return c.body(null, 204);
});
