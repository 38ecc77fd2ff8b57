import { keystone } from "../auth/keystone";
import { ApiError, unavailable } from "../http/errors";
import { log } from "../log";

/**
 * VALIDATE_MEMBER_IDS (issue 10): with AUTH_STRATEGY=keystone, a member id must be a project
 * Keystone knows. Off, or in trusted-headers mode, Keystone is never asked.
 */
const warned = new Set<string>();

/** Whether adds check member ids against Keystone; anything but true/false fails closed (503). */
export function validatesMemberIds(env: Cloudflare.Env, requestId?: string): boolean {
  const raw = (env.VALIDATE_MEMBER_IDS ?? "").trim().toLowerCase();
  if (raw === "" || raw === "false") return false;
  if (raw !== "true") {
    log.error(`VALIDATE_MEMBER_IDS ${JSON.stringify(raw)} is neither true nor false`, {
      request_id: requestId,
    });
    throw unavailable();
  }
  if (env.AUTH_STRATEGY !== "keystone") {
    if (!warned.has(env.AUTH_STRATEGY ?? "")) {
      warned.add(env.AUTH_STRATEGY ?? "");
      log.warn("VALIDATE_MEMBER_IDS=true has no effect without AUTH_STRATEGY=keystone", {
        request_id: requestId,
      });
    }
    return false;
  }
  return true;
}

export const unknownProject = (memberId: string) =>
  new ApiError(400, `Member ${memberId} is not a project known to the identity service.`);

/** 400 when Keystone does not know the project; 503 (with Retry-After) when it cannot say. */
export async function requireKnownProject(
  env: Cloudflare.Env,
  memberId: string,
  requestId?: string,
): Promise<void> {
  if (!(await keystone.projectKnown(env, memberId, requestId))) throw unknownProject(memberId);
}

/**
 * VALIDATE_MEMBER_IDS on: every member must be a project Keystone knows, asked one by one. Keystone
 * is asked only once `refusalFirst` — a read under the add's rules that only refuses — finds
 * nothing to refuse, so it is no oracle of project ids; the write that follows still carries the
 * rules, so no grant rests on that read.
 */
export async function requireKnownMembers(
  env: Cloudflare.Env,
  requestId: string | undefined,
  members: readonly string[],
  refusalFirst: () => Promise<ApiError | null>,
): Promise<void> {
  if (!validatesMemberIds(env, requestId)) return;
  const refused = await refusalFirst();
  if (refused) throw refused;
  for (const member of members) await requireKnownProject(env, member, requestId);
}
