import { memberQuota } from "../config";
import type { ApiError } from "../http/errors";
import { requireKnownMembers } from "../members/project-check";
import { ADD, type Ask, addRefusal, quotaExceeded } from "../members/rules";
import { guardOf, type Writer } from "../members/writes";
import type { BulkShare } from "./schemas";
import { type BulkImageFacts, type BulkResult, bulkShare, readBulkImages } from "./store";

/**
 * POST /v2/shares (docs/reference.md §12.3): every image of the request shared with every member, all or
 * nothing, in one round trip; answers the pairs and the expired rows they replaced. Else throws
 * the refusal of the first image, in request order, that refuses.
 */
export async function shareMany(
  w: Writer,
  env: Cloudflare.Env,
  body: BulkShare,
): Promise<Extract<BulkResult, { kind: "shared" }>> {
  const quota = memberQuota(env);
  const explain = (found: BulkImageFacts[]) => firstRefusal(w, body, found, quota);
  const ids = body.images.map((i) => i.id);
  // As for a single add: the batch below still decides under the same rules.
  await requireKnownMembers(env, w.requestId, body.members, async () =>
    explain(await readBulkImages(w.db, w.asker.project, ids, body.members)),
  );
  const result = await bulkShare(
    w.db,
    w.asker.project,
    w.actor,
    ids,
    body.members,
    body.expiresAt,
    quota,
    guardOf(w, ADD),
  );
  // Read and verdict ran in one transaction: rules that pass mean the gate opened.
  if (result.kind === "refused")
    throw explain(result.images) ?? new Error("bulk share neither written nor refused");
  return result;
}

/** The first image, in request order, that refuses: docs/reference.md §12.3's answer. */
function firstRefusal(w: Writer, body: BulkShare, found: BulkImageFacts[], quota: number): ApiError | null {
  for (const [n, image] of body.images.entries()) {
    const ask: Ask = { image: { raw: image.raw, id: image.id } };
    const f = found[n];
    const refused = addRefusal(w.policy, w.creds, f?.image ?? null, ask);
    if (refused) return refused;
    if (f && quota >= 0 && f.newCount > 0 && f.memberCount + f.newCount > quota) {
      return quotaExceeded(ask, f.memberCount + f.newCount, quota);
    }
  }
  return null;
}
