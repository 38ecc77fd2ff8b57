import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { actorOf } from "../audit/actor";
import { imageProject, requireImageCaller } from "../auth/strategy";
import type { AppEnv } from "../env";
import { IMAGE_BODY_LIMIT, jsonBody, presentJson } from "../http/body";
import { ApiError } from "../http/errors";
import { pageLinks } from "../http/paging";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { discardImageData } from "./data";
import { planList } from "./list";
import { parseChanges, patchImage } from "./patch";
import {
  authorizer,
  checkReservedNamespace,
  checkWritableKeys,
  createRefusal,
  DELETE,
  LISTED,
  listRefusal,
  MARKER,
  SHOW,
} from "./rules";
import { checkDocument, createImageBody, imageParam, listQuery, patchBodyV20, patchBodyV21 } from "./schemas";
import { createImage, deleteImage, listImages, readImage } from "./store";
import { imageView } from "./view";

/** /v2/images and /v2/images/{image_id} (docs/reference.md §8). */
export const images = new Hono<AppEnv>();

const V21 = "application/openstack-images-v2.1-json-patch";
const V20 = "application/openstack-images-v2.0-json-patch";
const PATCH_TYPES = [V21, V20];

allowOnly(images, "/", ["GET", "POST"]);
allowOnly(images, "/:image_id", ["GET", "PATCH", "DELETE"]);
images.use("/", requireImageCaller);
images.use("/:image_id", requireImageCaller);
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

type Ctx = {
  get(key: "policy"): AppEnv["Variables"]["policy"];
  get(key: "creds"): AppEnv["Variables"]["creds"];
  get(key: "caller"): AppEnv["Variables"]["caller"];
};
/** The caller's project (requireProject ran) and its rules for this request. */
const who = (c: Ctx) => ({
  project: imageProject(c),
  az: authorizer(c.get("policy"), c.get("creds")),
});

images.post("/", validate("json", createImageBody), async (c) => {
  const { id: requestedId, ...body } = c.req.valid("json");
  checkWritableKeys(Object.keys(body));
  const doc = checkDocument(body);
  checkReservedNamespace(Object.keys(body));
  const creds = c.get("creds");
  const owner = "owner" in doc ? (doc.owner ?? null) : creds.project_id;
  const refused = createRefusal(c.get("policy"), creds, owner, doc.visibility ?? "shared");
  if (refused) throw refused;
  doc.owner = owner;
  const id = (requestedId ?? crypto.randomUUID()).toLowerCase();
  // The id is claimed for good by the same statement (migrations/0004): taken now or ever → 409.
  const row = await createImage(c.get("db"), id, doc);
  if (!row) throw new ApiError(409, `Image with identifier ${id} already exists!`);
  return c.json(imageView(row), 201, { Location: new URL(`/v2/images/${id}`, c.req.url).href });
});

images.get("/", validate("query", listQuery), async (c) => {
  const { project, az } = who(c);
  const creds = c.get("creds");
  const plan = planList({ admin: creds.is_admin, project }, c.req.valid("query"));
  const refused = listRefusal(c.get("policy"), creds);
  if (refused) throw refused;
  const { markerFound, rows } = await listImages(c.get("db"), plan, {
    listed: az.guard(LISTED),
    visible: az.guard(MARKER),
  });
  if (!markerFound) throw new ApiError(400, `Invalid marker. Image ${plan.marker} could not be found.`);
  const full = rows.length > 0 && rows.length === plan.limit;
  const links = pageLinks(new URL(c.req.url), full ? (rows.at(-1)?.id ?? null) : null);
  return c.json({ images: rows.map(imageView), ...links, schema: "/v2/schemas/images" });
});

images.get("/:image_id", validate("param", imageParam), async (c) => {
  const { project, az } = who(c);
  const { image_id } = c.req.valid("param");
  const image = await readImage(c.get("db"), project, image_id.id);
  return c.json(imageView(az.permit(SHOW, image, { image: image_id.raw })));
});

/** Glance's older v2.0 changes, rewritten into the v2.1 form so that one validator serves both. */
const fromV20 = createMiddleware<AppEnv>(async (c, next) => {
  if (c.get("patchFormat") === "v2.0") {
    const parsed = patchBodyV20.safeParse(await c.req.json());
    if (!parsed.success) throw new ApiError(400, parsed.error.issues[0]?.message ?? "Invalid change.");
    presentJson(c, JSON.stringify(parsed.data));
  }
  await next();
});

images.patch(
  "/:image_id",
  fromV20,
  validate("json", patchBodyV21),
  validate("param", imageParam),
  async (c) => {
    const { project, az } = who(c);
    const { image_id } = c.req.valid("param");
    const changes = parseChanges(c.req.valid("json"));
    return c.json(imageView(await patchImage(c.get("db"), project, az, image_id, changes)));
  },
);

images.delete("/:image_id", validate("param", imageParam), async (c) => {
  const { project, az } = who(c);
  const { image_id } = c.req.valid("param");
  const { image, deleted } = await deleteImage(
    c.get("db"),
    project,
    actorOf(c),
    image_id.id,
    az.guard(DELETE),
  );
  if (!deleted || !image) {
    throw (
      az.refusal(DELETE, image, { image: image_id.raw }) ?? new Error("image delete neither done nor refused")
    );
  }
  // Awaited rather than left to waitUntil: a 204 then means the data is gone too.
  await discardImageData(c.env.IMAGE_DATA, image.id, c.get("requestId"));
  return c.body(null, 204);
});
