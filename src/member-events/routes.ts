import { Hono } from "hono";
import { projectCaller } from "../auth/caller";
import { requireProject } from "../auth/strategy";
import type { AppEnv } from "../env";
import { jsonBody, MEMBER_BODY_LIMIT } from "../http/body";
import { ApiError, INVALID_MARKER, notAuthorizedText } from "../http/errors";
import { DEFAULT_LIMIT, decodeMarker, encodeMarker } from "../http/paging";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { pageLinks } from "../images/list";
import { allows } from "../policy/policy";
import { memberEventsQuery } from "./schemas";
import { listEvents } from "./store";
import { eventView } from "./view";

/** GET /v2/member-events (SPEC §12.4): who did what to which membership. */
export const memberEvents = new Hono<AppEnv>();

allowOnly(memberEvents, "/", ["GET"]);
memberEvents.use("/", requireProject, jsonBody(MEMBER_BODY_LIMIT));

memberEvents.get("/", validate("query", memberEventsQuery), async (c) => {
  const creds = c.get("creds");
  if (!allows(c.get("policy"), "get_member_events", creds, { project_id: creds.project_id })) {
    throw new ApiError(403, notAuthorizedText("get_member_events"));
  }
  const q = c.req.valid("query");
  let before: number | null = null;
  if (q.marker !== undefined) {
    const key = decodeMarker(q.marker, ["number"]);
    if (!key) throw new ApiError(400, INVALID_MARKER);
    before = key[0] as number;
  }
  const limit = q.limit ?? DEFAULT_LIMIT;
  const rows = await listEvents(c.get("db"), {
    project: creds.is_admin ? null : projectCaller(c.get("caller")).projectId,
    imageId: q.image_id?.toLowerCase(),
    memberId: q.member_id,
    action: q.action,
    since: q.since,
    limit,
    before,
  });
  const last = rows.length > 0 && rows.length === limit ? rows.at(-1) : undefined;
  const links = pageLinks(new URL(c.req.url), last ? encodeMarker([last.id]) : null, "/v2/member-events");
  return c.json({ events: rows.map(eventView), ...links, schema: "/v2/schemas/member-events" });
});
