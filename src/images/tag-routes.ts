import { Hono } from "hono";
import { imageProject, requireImageCaller } from "../auth/strategy";
import type { AppEnv } from "../env";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { type Ask, authorizer, TAG_ADD, TAG_DELETE, TAG_QUOTA, tagNotFound, tagQuotaExceeded } from "./rules";
import { checkDocument, imageParam } from "./schemas";
import { addTag, removeTag } from "./store";

/** PUT and DELETE /v2/images/{image_id}/tags/{tag} (Glance's image_tags.py). */
export const imageTags = new Hono<AppEnv>();

const PATH = "/:image_id/tags/:tag";
allowOnly(imageTags, PATH, ["PUT", "DELETE"]);
imageTags.use(PATH, requireImageCaller);

imageTags.put(PATH, validate("param", imageParam), async (c) => {
  const tag = c.req.param("tag");
  // Glance's deserializer checks the tag against the image schema before looking the image up.
  checkDocument({ tags: [tag] });
  const project = imageProject(c);
  const az = authorizer(c.get("policy"), c.get("creds"));
  const { image_id } = c.req.valid("param");
  const ask: Ask = { image: image_id.raw };
  const r = await addTag(c.get("db"), project, image_id.id, tag, TAG_QUOTA, az.guard(TAG_ADD));
  if (!r.written) {
    az.permit(TAG_ADD, r.image, ask);
    // The rules held and the UPDATE (which re-checks them) did not match: only the quota is left.
    throw tagQuotaExceeded(ask, r.count);
  }
  return c.body(null, 204);
});

imageTags.delete(PATH, validate("param", imageParam), async (c) => {
  const tag = c.req.param("tag");
  const project = imageProject(c);
  const az = authorizer(c.get("policy"), c.get("creds"));
  const { image_id } = c.req.valid("param");
  const r = await removeTag(c.get("db"), project, image_id.id, tag, az.guard(TAG_DELETE));
  if (!r.written) {
    az.permit(TAG_DELETE, r.image, { image: image_id.raw });
    if (!r.hadTag) throw tagNotFound();
    throw new Error("tag removal neither done nor refused");
  }
  return c.body(null, 204);
});
