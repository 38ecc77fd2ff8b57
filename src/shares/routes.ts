import { Hono } from "hono";
import { projectCaller } from "../auth/caller";
import { requireProject } from "../auth/strategy";
import type { AppEnv } from "../env";
import { jsonBody, MEMBER_BODY_LIMIT } from "../http/body";
import { ApiError, INVALID_MARKER, notAuthorizedText } from "../http/errors";
import { DEFAULT_LIMIT, decodeMarker, encodeMarker } from "../http/paging";
import { limitMemberWrites } from "../http/rate-limit";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { pageLinks } from "../images/list";
import { writerOf } from "../members/writes";
import { notifyMembers } from "../notify";
import { allows } from "../policy/policy";
import { shareMany } from "./bulk";
import { bulkShareBody, sharesQuery } from "./schemas";
import { listShares } from "./store";
import { bulkShareView, shareView } from "./view";

/** /v2/shares (SPEC §12.2, §12.3): memberships across images, and many at once. */
export const shares = new Hono<AppEnv>();

allowOnly(shares, "/", ["GET", "POST"]);
shares.use("/", requireProject, limitMemberWrites, jsonBody(MEMBER_BODY_LIMIT));

shares.get("/", validate("query", sharesQuery), async (c) => {
  const creds = c.get("creds");
  if (!allows(c.get("policy"), "get_shares", creds, { project_id: creds.project_id })) {
    throw new ApiError(403, notAuthorizedText("get_shares"));
  }
  const q = c.req.valid("query");
  let after: [string, string, string] | null = null;
  if (q.marker !== undefined) {
    const key = decodeMarker(q.marker, ["string", "string", "string"]);
    if (!key) throw new ApiError(400, INVALID_MARKER);
    after = key as [string, string, string];
  }
  const limit = q.limit ?? DEFAULT_LIMIT;
  const rows = await listShares(c.get("db"), {
    project: creds.is_admin ? null : projectCaller(c.get("caller")).projectId,
    memberId: q.member_id,
    owner: q.owner,
    // Image ids are stored lower-case (SPEC §3); any other text matches nothing.
    imageId: q.image_id?.toLowerCase(),
    status: q.status === "all" ? undefined : q.status,
    limit,
    after,
  });
  const last = rows.length > 0 && rows.length === limit ? rows.at(-1) : undefined;
  const links = pageLinks(
    new URL(c.req.url),
    last ? encodeMarker([last.created_at, last.image_id, last.member_id]) : null,
    "/v2/shares",
  );
  return c.json({ shares: rows.map(shareView), ...links, schema: "/v2/schemas/shares" });
});

shares.post("/", validate("json", bulkShareBody), async (c) => {
  const shared = await shareMany(writerOf(c), c.env, c.req.valid("json"));
  notifyMembers(c, "delete", shared.expired);
  const created = shared.rows.filter((r) => r.created);
  notifyMembers(c, "create", created);
  return c.json({ shares: shared.rows.map(bulkShareView) });
});
