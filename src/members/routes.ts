import { Hono } from "hono";
import { actorOf } from "../audit/actor";
import { projectCaller, requireProject } from "../auth/strategy";
import { memberQuota } from "../config";
import type { AppEnv } from "../env";
import { jsonBody, MEMBER_BODY_LIMIT } from "../http/body";
import { ApiError } from "../http/errors";
import { limitMemberWrites } from "../http/rate-limit";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { notifyMember, notifyMembers } from "../notify";
import { requireKnownProject, validatesMemberIds } from "./project-check";
import {
  ADD,
  type Ask,
  DELETE,
  DELETE_AFTER_ROW,
  duplicateMember,
  guardSql,
  INVALID_STATUS,
  imageNotFound,
  LIST,
  type MemberStep,
  mayReadMember,
  memberNotFound,
  quotaExceeded,
  refusal,
  SET_EXPIRY,
  SHOW,
  UPDATE,
  UPDATE_AFTER_ROW,
} from "./rules";
import { addMemberBody, imageParams, memberParams, patchMemberBody, updateMemberBody } from "./schemas";
import {
  type Asker,
  addMember,
  deleteMember,
  listMembers,
  setMemberExpiry,
  showMember,
  updateMemberStatus,
} from "./store";
import { memberListView, memberView } from "./view";

/** /v2/images/{image_id}/members[/{member_id}] (SPEC §5, §11). */
export const members = new Hono<AppEnv>();

allowOnly(members, "/:image_id/members", ["GET", "POST"]);
allowOnly(members, "/:image_id/members/:member_id", ["GET", "PATCH", "PUT", "DELETE"]);
const memberBody = jsonBody(MEMBER_BODY_LIMIT);
members.use("/:image_id/members", requireProject, limitMemberWrites, memberBody);
members.use("/:image_id/members/:member_id", requireProject, limitMemberWrites, memberBody);

type Ctx = {
  get(key: "policy"): AppEnv["Variables"]["policy"];
  get(key: "creds"): AppEnv["Variables"]["creds"];
};

/** The caller as the store needs it, and the rules of a route as the store's SQL guard. */
function asker(c: Ctx & { get(key: "caller"): AppEnv["Variables"]["caller"] }): Asker {
  return { project: projectCaller(c.get("caller")).projectId, admin: c.get("creds").is_admin };
}
const guard = (c: Ctx, steps: readonly MemberStep[]) => (param: (v: unknown) => string) =>
  guardSql(c.get("policy"), c.get("creds"), steps, param);

members.post(
  "/:image_id/members",
  validate("json", addMemberBody),
  validate("param", imageParams),
  async (c) => {
    const { image_id } = c.req.valid("param");
    const { member: memberId, expires_at } = c.req.valid("json");
    const ask: Ask = { image: image_id, member: memberId };
    const quota = memberQuota(c.env);
    if (validatesMemberIds(c.env, c.get("requestId"))) {
      // Keystone is asked only for a caller the rules let add, so it is no oracle of project ids;
      // this read only refuses. The INSERT below still carries the rules, so no grant rests on it.
      const { image } = await showMember(c.get("db"), asker(c), image_id.id, memberId);
      if (!image) throw imageNotFound(ask);
      const refused = refusal(c.get("policy"), c.get("creds"), ADD, image, ask);
      if (refused) throw refused;
      await requireKnownProject(c.env, memberId, c.get("requestId"));
    }
    const result = await addMember(
      c.get("db"),
      asker(c),
      actorOf(c),
      image_id.id,
      memberId,
      expires_at,
      quota,
      guard(c, ADD),
    );
    switch (result.kind) {
      case "added":
        // An expired row the add replaced ends as the purge would have ended it (SPEC §12.1).
        notifyMembers(c, "delete", result.expired);
        notifyMember(c, "create", result.member);
        return c.json(memberView(result.member), 200);
      case "duplicate":
        throw duplicateMember(ask, memberId);
      case "refused": {
        if (!result.image) throw imageNotFound(ask);
        throw (
          refusal(c.get("policy"), c.get("creds"), ADD, result.image, ask) ??
          quotaExceeded(ask, result.memberCount + 1, quota)
        );
      }
    }
  },
);

members.get("/:image_id/members", validate("param", imageParams), async (c) => {
  const { image_id } = c.req.valid("param");
  const ask: Ask = { image: image_id };
  const { image, members: rows } = await listMembers(c.get("db"), asker(c), image_id.id);
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
  const { image, member } = await showMember(c.get("db"), asker(c), image_id.id, member_id);
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
    const ask: Ask = { image: image_id, member: member_id };
    const status = c.req.valid("json");
    const steps = [...UPDATE, ...UPDATE_AFTER_ROW];
    const r = await updateMemberStatus(
      c.get("db"),
      asker(c),
      actorOf(c),
      image_id.id,
      member_id,
      status,
      guard(c, steps),
    );
    if (r.written) {
      notifyMember(c, "update", r.written);
      return c.json(memberView(r.written));
    }
    explainRowWrite(c, ask, r.image, r.member !== null, UPDATE, UPDATE_AFTER_ROW);
    if (status === null) throw new ApiError(400, INVALID_STATUS);
    // Read and write ran in one transaction: rules that pass mean the UPDATE matched.
    throw new Error("member update neither written nor refused");
  },
);

members.delete("/:image_id/members/:member_id", validate("param", memberParams), async (c) => {
  const { image_id, member_id } = c.req.valid("param");
  const ask: Ask = { image: image_id, member: member_id };
  const r = await deleteMember(
    c.get("db"),
    asker(c),
    actorOf(c),
    image_id.id,
    member_id,
    guard(c, [...DELETE, ...DELETE_AFTER_ROW]),
  );
  if (r.written) {
    notifyMember(c, "delete", r.written);
    return c.body(null, 204);
  }
  explainRowWrite(c, ask, r.image, r.member !== null, DELETE, DELETE_AFTER_ROW);
  throw new Error("member delete neither written nor refused");
});

/** SPEC §12.1: set or clear a membership's expiry; the body is judged after the lookups. */
members.patch(
  "/:image_id/members/:member_id",
  validate("json", patchMemberBody),
  validate("param", memberParams),
  async (c) => {
    const { image_id, member_id } = c.req.valid("param");
    const ask: Ask = { image: image_id, member: member_id };
    const change = c.req.valid("json");
    const r = await setMemberExpiry(
      c.get("db"),
      asker(c),
      actorOf(c),
      image_id.id,
      member_id,
      change.ok ? change.expiresAt : undefined,
      guard(c, SET_EXPIRY),
    );
    if (r.written) {
      notifyMember(c, "update", r.written);
      return c.json(memberView(r.written));
    }
    explainRowWrite(c, ask, r.image, r.member !== null, SET_EXPIRY, []);
    if (!change.ok) throw new ApiError(400, change.message);
    throw new Error("member expiry neither written nor refused");
  },
);

/** Why a PUT, PATCH or DELETE did not write: the steps up to the row, the row, the steps after it. */
function explainRowWrite(
  c: Ctx,
  ask: Ask,
  image: Parameters<typeof refusal>[3] | null,
  rowExists: boolean,
  before: Parameters<typeof refusal>[2],
  after: Parameters<typeof refusal>[2],
): void {
  if (!image) throw imageNotFound(ask);
  const p = c.get("policy");
  const creds = c.get("creds");
  const refused = refusal(p, creds, before, image, ask);
  if (refused) throw refused;
  if (!rowExists || !mayReadMember(creds, image, ask.member ?? "")) throw memberNotFound(ask);
  const late = refusal(p, creds, after, image, ask);
  if (late) throw late;
}
