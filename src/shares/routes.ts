import { Hono } from "hono";
import { projectCaller } from "../auth/caller";
import { requireProject } from "../auth/strategy";
import type { AppEnv } from "../env";
import { jsonBody, MEMBER_BODY_LIMIT } from "../http/body";
import { DEFAULT_LIMIT, keysetLinks, markerKey } from "../http/paging";
import { limitMemberWrites } from "../http/rate-limit";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { writerOf } from "../members/writes";
import { notifyMembers } from "../notify";
import { listingRefusal } from "../policy/policy";
import { shareMany } from "./bulk";
import { bulkShareBody, sharesQuery } from "./schemas";
import { listShares, shareKey } from "./store";
import { bulkShareView, shareView } from "./view";

/** /v2/shares (docs/reference.md §12.2, §12.3): memberships across images, and many at once. */
export const shares = new Hono<AppEnv>();

allowOnly(shares, "/", ["GET", "POST"]);
shares.use("/", requireProject, limitMemberWrites, jsonBody(MEMBER_BODY_LIMIT));

shares.get("/", validate("query", sharesQuery), async (c) => {
  const creds = c.get("creds");
  const refused = listingRefusal(c.get("policy"), "get_shares", creds);
  if (refused) throw refused;
  const q = c.req.valid("query");
  const after = markerKey(q.marker, ["string", "string", "string"]);
  const limit = q.limit ?? DEFAULT_LIMIT;
  const rows = await listShares(c.get("db"), {
    project: creds.is_admin ? null : projectCaller(c.get("caller")).projectId,
    memberId: q.member_id,
    owner: q.owner,
    // Image ids are stored lower-case (docs/reference.md §3); any other text matches nothing.
    imageId: q.image_id?.toLowerCase(),
    status: q.status === "all" ? undefined : q.status,
    limit,
    after,
  });
  const links = keysetLinks(new URL(c.req.url), "/v2/shares", rows, limit, shareKey);
  return c.json({ shares: rows.map(shareView), ...links, schema: "/v2/schemas/shares" });
});

shares.post("/", validate("json", bulkShareBody), async (c) => {
  const shared = await shareMany(writerOf(c), c.env, c.req.valid("json"));
  notifyMembers(c, "delete", shared.expired);
  const created = shared.rows.filter((r) => r.created);
  notifyMembers(c, "create", created);
  return c.json({ shares: shared.rows.map(bulkShareView) });
});
