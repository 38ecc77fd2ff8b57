import { Hono } from "hono";
import { projectCaller, requireProject } from "../auth/strategy";
import { memberQuota } from "../config";
import type { AppEnv } from "../env";
import { jsonBody, MEMBER_BODY_LIMIT } from "../http/body";
import { ApiError } from "../http/errors";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { notifyMember } from "../notify";
import {
  checkAdd,
  checkDelete,
  checkList,
  checkShow,
  checkUpdate,
  duplicateMember,
  INVALID_STATUS,
  quotaExceeded,
} from "./rules";
import { addMemberBody, imageParams, memberParams, updateMemberBody } from "./schemas";
import { addMember, deleteMember, listMembers, showMember, updateMemberStatus } from "./store";
import { memberListView, memberView } from "./view";

/** /v2/images/{image_id}/members[/{member_id}] (SPEC §5). */
export const members = new Hono<AppEnv>();

allowOnly(members, "/:image_id/members", ["GET", "POST"]);
allowOnly(members, "/:image_id/members/:member_id", ["GET", "PUT", "DELETE"]);
const memberBody = jsonBody(MEMBER_BODY_LIMIT);
members.use("/:image_id/members", requireProject, memberBody);
members.use("/:image_id/members/:member_id", requireProject, memberBody);

members.post(
  "/:image_id/members",
  validate("json", addMemberBody),
  validate("param", imageParams),
  async (c) => {
    const caller = projectCaller(c.get("caller"));
    const { image_id } = c.req.valid("param");
    const memberId = c.req.valid("json");
    const quota = memberQuota(c.env);
    const result = await addMember(c.get("db"), caller, image_id.id, memberId, quota);
    switch (result.kind) {
      case "added":
        notifyMember(c, "create", result.member);
        return c.json(memberView(result.member), 200);
      case "duplicate":
        throw duplicateMember(image_id, memberId);
      case "refused":
        checkAdd(caller, image_id, result.image);
        throw quotaExceeded(image_id, result.memberCount, quota);
    }
  },
);

members.get("/:image_id/members", validate("param", imageParams), async (c) => {
  const caller = projectCaller(c.get("caller"));
  const { image_id } = c.req.valid("param");
  const { image, members: rows } = await listMembers(c.get("db"), caller, image_id.id);
  checkList(caller, image_id, image);
  return c.json(memberListView(rows));
});

members.get("/:image_id/members/:member_id", validate("param", memberParams), async (c) => {
  const caller = projectCaller(c.get("caller"));
  const { image_id, member_id } = c.req.valid("param");
  const { image, member } = await showMember(c.get("db"), caller, image_id.id, member_id);
  checkShow(caller, image_id, member_id, image, member !== null);
  return c.json(memberView(member as NonNullable<typeof member>));
});

members.put(
  "/:image_id/members/:member_id",
  validate("json", updateMemberBody),
  validate("param", memberParams),
  async (c) => {
    const caller = projectCaller(c.get("caller"));
    const { image_id, member_id } = c.req.valid("param");
    const status = c.req.valid("json");
    const r = await updateMemberStatus(c.get("db"), caller, image_id.id, member_id, status);
    if (r.written) {
      notifyMember(c, "update", r.written);
      return c.json(memberView(r.written));
    }
    checkUpdate(caller, image_id, member_id, r.image, r.member !== null);
    if (status === null) throw new ApiError(400, INVALID_STATUS);
    // Read and write ran in one transaction: rules that pass mean the UPDATE matched.
    throw new Error("member update neither written nor refused");
  },
);

members.delete("/:image_id/members/:member_id", validate("param", memberParams), async (c) => {
  const caller = projectCaller(c.get("caller"));
  const { image_id, member_id } = c.req.valid("param");
  const r = await deleteMember(c.get("db"), caller, image_id.id, member_id);
  if (r.written) {
    notifyMember(c, "delete", r.written);
    return c.body(null, 204);
  }
  checkDelete(caller, image_id, member_id, r.image, r.member !== null);
  throw new Error("member delete neither written nor refused");
});
