import { Hono } from "hono";
import { actorOf } from "../audit/actor";
import { projectCaller, requireProject } from "../auth/strategy";
import { memberQuota } from "../config";
import type { AppEnv } from "../env";
import { jsonBody, MEMBER_BODY_LIMIT } from "../http/body";
import { ApiError, INVALID_MARKER, notAuthorizedText } from "../http/errors";
import { DEFAULT_LIMIT, decodeMarker, encodeMarker } from "../http/paging";
import { limitMemberWrites } from "../http/rate-limit";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { pageLinks } from "../images/list";
import { requireKnownProject, validatesMemberIds } from "../members/project-check";
import { ADD, type Ask, guardSql, imageNotFound, quotaExceeded, refusal } from "../members/rules";
import { notifyMembers } from "../notify";
import { allows } from "../policy/policy";
import { bulkShareBody, sharesQuery } from "./schemas";
import { type BulkImageFacts, bulkShare, listShares, readBulkImages } from "./store";
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
  const body = c.req.valid("json");
  const project = projectCaller(c.get("caller")).projectId;
  const policy = c.get("policy");
  const creds = c.get("creds");
  const quota = memberQuota(c.env);
  const guard = (param: (v: unknown) => string) => guardSql(policy, creds, ADD, param);
  /** The first image, in request order, that refuses: SPEC §12.3's answer. */
  const explain = (found: BulkImageFacts[]): ApiError | null => {
    for (const [n, image] of body.images.entries()) {
      const ask: Ask = { image: { raw: image.raw, id: image.id } };
      const f = found[n];
      if (!f?.image) return imageNotFound(ask);
      const refused = refusal(policy, creds, ADD, f.image, ask);
      if (refused) return refused;
      if (quota >= 0 && f.newCount > 0 && f.memberCount + f.newCount > quota) {
        return quotaExceeded(ask, f.memberCount + f.newCount, quota);
      }
    }
    return null;
  };
  const ids = body.images.map((i) => i.id);
  if (validatesMemberIds(c.env, c.get("requestId"))) {
    // As for a single add: Keystone is asked only once the rules let this caller share every
    // image, so it is no oracle; the batch below still decides under the same rules.
    const refused = explain(await readBulkImages(c.get("db"), project, ids, body.members));
    if (refused) throw refused;
    for (const member of body.members) await requireKnownProject(c.env, member, c.get("requestId"));
  }
  const result = await bulkShare(
    c.get("db"),
    project,
    actorOf(c),
    ids,
    body.members,
    body.expiresAt,
    quota,
    guard,
  );
  if (result.kind === "refused") {
    // Read and verdict ran in one transaction: rules that pass mean the gate opened.
    throw explain(result.images) ?? new Error("bulk share neither written nor refused");
  }
  notifyMembers(c, "delete", result.expired);
  notifyMembers(
    c,
    "create",
    result.rows.filter((r) => r.created),
  );
  return c.json({ shares: result.rows.map(bulkShareView) });
});
