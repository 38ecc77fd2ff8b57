import { Hono } from "hono";
import { projectCaller } from "../auth/caller";
import { requireProject } from "../auth/strategy";
import type { AppEnv } from "../env";
import { jsonBody, MEMBER_BODY_LIMIT } from "../http/body";
import { DEFAULT_LIMIT, keysetLinks, markerKey } from "../http/paging";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { listingRefusal } from "../policy/policy";
import { memberEventsQuery } from "./schemas";
import { listEvents } from "./store";
import { eventView } from "./view";

/** GET /v2/member-events (docs/reference.md §12.4): who did what to which membership. */
export const memberEvents = new Hono<AppEnv>();

allowOnly(memberEvents, "/", ["GET"]);
memberEvents.use("/", requireProject, jsonBody(MEMBER_BODY_LIMIT));

memberEvents.get("/", validate("query", memberEventsQuery), async (c) => {
  const creds = c.get("creds");
  const refused = listingRefusal(c.get("policy"), "get_member_events", creds);
  if (refused) throw refused;
  const q = c.req.valid("query");
  const before = markerKey(q.marker, ["number"])?.[0] ?? null;
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
  const links = keysetLinks(new URL(c.req.url), "/v2/member-events", rows, limit, (e) => [e.id]);
  return c.json({ events: rows.map(eventView), ...links, schema: "/v2/schemas/member-events" });
});
