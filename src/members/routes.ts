import { Hono } from "hono";
import { requireProject } from "../auth/strategy";
import type { AppEnv } from "../env";
import { jsonBody, MEMBER_BODY_LIMIT } from "../http/body";
import { limitMemberWrites } from "../http/rate-limit";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { notifyMember, notifyMembers } from "../notify";
import { type Ask, imageNotFound, LIST, mayReadMember, memberNotFound, refusal, SHOW } from "./rules";
import { addMemberBody, imageParams, memberParams, patchMemberBody, updateMemberBody } from "./schemas";
import { listMembers, showMember } from "./store";
import { memberListView, memberView } from "./view";
import {
  addOneMember,
  askerOf,
  changeMemberExpiry,
  changeMemberStatus,
  removeOneMember,
  writerOf,
} from "./writes";

/** /v2/images/{image_id}/members[/{member_id}] (docs/reference.md §5, §11). */
export const members = new Hono<AppEnv>();

allowOnly(members, "/:image_id/members", ["GET", "POST"]);
allowOnly(members, "/:image_id/members/:member_id", ["GET", "PATCH", "PUT", "DELETE"]);
const memberBody = jsonBody(MEMBER_BODY_LIMIT);
members.use("/:image_id/members", requireProject, limitMemberWrites, memberBody);
members.use("/:image_id/members/:member_id", requireProject, limitMemberWrites, memberBody);

members.post(
  "/:image_id/members",
  validate("json", addMemberBody),
  validate("param", imageParams),
  async (c) => {
    const { image_id } = c.req.valid("param");
    const { member, expires_at } = c.req.valid("json");
    const added = await addOneMember(writerOf(c), c.env, { image: image_id, member }, expires_at);
    // An expired row the add replaced ends as the purge would have ended it (docs/reference.md §12.1).
    notifyMembers(c, "delete", added.expired);
    notifyMember(c, "create", added.member);
    return c.json(memberView(added.member), 200);
  },
);

members.get("/:image_id/members", validate("param", imageParams), async (c) => {
  const { image_id } = c.req.valid("param");
  const ask: Ask = { image: image_id };
  const { image, members: rows } = await listMembers(c.get("db"), askerOf(c), image_id.id);
  if (!image) throw imageNotFound(ask);
  const refused = refusal(c.get("policy"), c.get("creds"), LIST, image, ask);
  if (refused) throw refused;
  // Glance lists a row only where get_member holds; its target is the image, so all or none.
  const shown = refusal(c.get("policy"), c.get("creds"), SHOW, image, ask) ? [] : rows;
  return c.json(memberListView(shown));
});

members.get("/:image_id/members/:member_id", validate("param", memberParams), async (c) => {
  const { image_id, member_id } = c.req.valid("param");
  const ask: Ask = { image: image_id, member: member_id };
  const { image, member } = await showMember(c.get("db"), askerOf(c), image_id.id, member_id);
  if (!image) throw imageNotFound(ask);
  const refused = refusal(c.get("policy"), c.get("creds"), SHOW, image, ask);
  if (refused) throw refused;
  if (!member || !mayReadMember(c.get("creds"), image, member_id)) throw memberNotFound(ask);
  return c.json(memberView(member));
});

members.put(
  "/:image_id/members/:member_id",
  validate("json", updateMemberBody),
  validate("param", memberParams),
  async (c) => {
    const { image_id, member_id } = c.req.valid("param");
    const ask = { image: image_id, member: member_id };
    const written = await changeMemberStatus(writerOf(c), ask, c.req.valid("json"));
    notifyMember(c, "update", written);
    return c.json(memberView(written));
  },
);

members.delete("/:image_id/members/:member_id", validate("param", memberParams), async (c) => {
  const { image_id, member_id } = c.req.valid("param");
  const removed = await removeOneMember(writerOf(c), { image: image_id, member: member_id });
  notifyMember(c, "delete", removed);
  return c.body(null, 204);
});

/** docs/reference.md §12.1: set or clear a membership's expiry; the body is judged after the lookups. */
members.patch(
  "/:image_id/members/:member_id",
  validate("json", patchMemberBody),
  validate("param", memberParams),
  async (c) => {
    const { image_id, member_id } = c.req.valid("param");
    const ask = { image: image_id, member: member_id };
    const written = await changeMemberExpiry(writerOf(c), ask, c.req.valid("json"));
    notifyMember(c, "update", written);
    return c.json(memberView(written));
  },
);
