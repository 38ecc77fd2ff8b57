import { actorOf } from "../audit/actor";
import type { Actor } from "../audit/context";
import { type Caller, projectCaller } from "../auth/caller";
import { memberQuota } from "../config";
import type { Db } from "../env";
import { ApiError } from "../http/errors";
import type { Credentials } from "../policy/check";
import type { Policy } from "../policy/policy";
import { requireKnownMembers } from "./project-check";
import {
  ADD,
  type Ask,
  addRefusal,
  DELETE,
  DELETE_AFTER_ROW,
  duplicateMember,
  guardSql,
  INVALID_STATUS,
  imageNotFound,
  type MemberStep,
  mayReadMember,
  memberNotFound,
  quotaExceeded,
  refusal,
  SET_EXPIRY,
  UPDATE,
  UPDATE_AFTER_ROW,
} from "./rules";
import type { ExpiryChange, MemberStatus } from "./schemas";
import {
  type Asker,
  addMember,
  deleteMember,
  type Guard,
  type MemberRow,
  setMemberExpiry,
  showMember,
  updateMemberStatus,
  type WriteResult,
} from "./store";

/**
 * The membership writes of docs/reference.md §5 and §12.1, each one round trip (src/members/store.ts), then,
 * when nothing was written, the refusal that explains it from the read beside the write. Each
 * answers the row it wrote; the route notifies and renders.
 */

/** Who changes memberships and under which rules: what every membership write needs. */
export interface Writer {
  db: Db;
  asker: Asker;
  actor: Actor;
  policy: Policy;
  creds: Credentials;
  /** For log lines. */
  requestId: string;
}

/** The caller as the store needs it (requireProject ran: the caller acts for a project). */
export function askerOf(c: { get(key: "caller"): Caller; get(key: "creds"): Credentials }): Asker {
  return { project: projectCaller(c.get("caller")).projectId, admin: c.get("creds").is_admin };
}

/** The writer of a request. */
export function writerOf(c: {
  get(key: "db"): Db;
  get(key: "caller"): Caller;
  get(key: "policy"): Policy;
  get(key: "creds"): Credentials;
  get(key: "requestId"): string;
}): Writer {
  return {
    db: c.get("db"),
    asker: askerOf(c),
    actor: actorOf(c),
    policy: c.get("policy"),
    creds: c.get("creds"),
    requestId: c.get("requestId"),
  };
}

/** The route's rules as the store's SQL guard. */
export const guardOf =
  (w: Writer, steps: readonly MemberStep[]): Guard =>
  (param) =>
    guardSql(w.policy, w.creds, steps, param);

/** One membership of a request: the image as given and the member id. */
export type Pair = Ask & { member: string };

/**
 * POST /v2/images/{image_id}/members (docs/reference.md §5.1): adds the member, and answers it with the
 * expired row it replaced, if any; else throws why not (image, rules, duplicate, quota).
 */
export async function addOneMember(
  w: Writer,
  env: Cloudflare.Env,
  ask: Pair,
  expiresAt: string | null,
): Promise<{ member: MemberRow; expired: MemberRow[] }> {
  const quota = memberQuota(env);
  await requireKnownMembers(env, w.requestId, [ask.member], async () => {
    const { image } = await showMember(w.db, w.asker, ask.image.id, ask.member);
    return addRefusal(w.policy, w.creds, image, ask);
  });
  const result = await addMember(
    w.db,
    w.asker,
    w.actor,
    ask.image.id,
    ask.member,
    expiresAt,
    quota,
    guardOf(w, ADD),
  );
  switch (result.kind) {
    case "added":
      return result;
    case "duplicate":
      throw duplicateMember(ask, ask.member);
    case "refused":
      throw (
        addRefusal(w.policy, w.creds, result.image, ask) ?? quotaExceeded(ask, result.memberCount + 1, quota)
      );
  }
}

/** PUT (docs/reference.md §5.4): sets the member's status (null: not a status, a 400 after the lookups). */
export async function changeMemberStatus(
  w: Writer,
  ask: Pair,
  status: MemberStatus | null,
): Promise<MemberRow> {
  const steps = [...UPDATE, ...UPDATE_AFTER_ROW];
  const r = await updateMemberStatus(
    w.db,
    w.asker,
    w.actor,
    ask.image.id,
    ask.member,
    status,
    guardOf(w, steps),
  );
  if (r.written) return r.written;
  explainRowWrite(w, ask, r, UPDATE, UPDATE_AFTER_ROW);
  if (status === null) throw new ApiError(400, INVALID_STATUS);
  // Read and write ran in one transaction: rules that pass mean the UPDATE matched.
  throw new Error("member update neither written nor refused");
}

/** PATCH (docs/reference.md §12.1): sets or clears the membership's expiry; a bad body answers after the lookups. */
export async function changeMemberExpiry(w: Writer, ask: Pair, change: ExpiryChange): Promise<MemberRow> {
  const expiry = change.ok ? change.expiresAt : undefined;
  const r = await setMemberExpiry(
    w.db,
    w.asker,
    w.actor,
    ask.image.id,
    ask.member,
    expiry,
    guardOf(w, SET_EXPIRY),
  );
  if (r.written) return r.written;
  explainRowWrite(w, ask, r, SET_EXPIRY, []);
  if (!change.ok) throw new ApiError(400, change.message);
  throw new Error("member expiry neither written nor refused");
}

/** DELETE (docs/reference.md §5.5): removes the membership and answers the row removed. */
export async function removeOneMember(w: Writer, ask: Pair): Promise<MemberRow> {
  const guard = guardOf(w, [...DELETE, ...DELETE_AFTER_ROW]);
  const r = await deleteMember(w.db, w.asker, w.actor, ask.image.id, ask.member, guard);
  if (r.written) return r.written;
  explainRowWrite(w, ask, r, DELETE, DELETE_AFTER_ROW);
  throw new Error("member delete neither written nor refused");
}

/** Why a PUT, PATCH or DELETE did not write: the steps up to the row, the row, the steps after it. */
function explainRowWrite(
  w: Writer,
  ask: Pair,
  read: WriteResult,
  before: readonly MemberStep[],
  after: readonly MemberStep[],
): void {
  const { image } = read;
  if (!image) throw imageNotFound(ask);
  const refused = refusal(w.policy, w.creds, before, image, ask);
  if (refused) throw refused;
  if (!read.member || !mayReadMember(w.creds, image, ask.member)) throw memberNotFound(ask);
  const late = refusal(w.policy, w.creds, after, image, ask);
  if (late) throw late;
}
