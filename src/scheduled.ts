import { inContext } from "./audit/context";
import { auditRetentionDays } from "./config";
import { guard } from "./db/guard";
import type { Db } from "./env";
import { log } from "./log";
import { MEMBER_COLUMNS, type MemberRow } from "./members/store";
import { sendMemberEvents } from "./notify";

/**
 * The Cron Trigger (wrangler.toml [triggers], docs/reference.md §12.1, §12.4): purges expired memberships,
 * each with its §9 `image.member.delete` event and its `expire` record (the trigger writes it,
 * in the DELETE's own statement), then audit records past AUDIT_RETENTION_DAYS. Correctness
 * never waits for it: expired rows are invisible from their expiry on (src/members/live.ts).
 * Bounded: at most MAX_BATCHES batches of each kind per run; the next run goes on.
 */
export const PURGE_BATCH = 100;
export const RETENTION_BATCH = 1000;
export const MAX_BATCHES = 50;

const stamp = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;

/** Where events of the Cron Trigger say they come from (requests use their own host). */
function publisherHost(env: Cloudflare.Env): string {
  try {
    return new URL((env.PUBLIC_ENDPOINT ?? "").trim()).hostname || "glance-edge";
  } catch {
    return "glance-edge";
  }
}

export interface PurgeReport {
  expired: number;
  records: number;
}

/** Memberships expired at `at` (ms), in batches; their events are handed to `waitUntil`. */
export async function purgeExpired(
  db: Db,
  env: Cloudflare.Env,
  at: number,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<number> {
  let total = 0;
  for (let n = 0; n < MAX_BATCHES; n++) {
    const remove = db
      .prepare(
        `DELETE FROM image_members WHERE rowid IN (
           SELECT rowid FROM image_members WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)
         RETURNING ${MEMBER_COLUMNS}`,
      )
      .bind(stamp(at), PURGE_BATCH);
    const [removed] = await inContext(db, null, [remove], "expire");
    const rows = (removed?.results ?? []) as MemberRow[];
    total += rows.length;
    waitUntil(sendMemberEvents(env.NOTIFICATIONS, publisherHost(env), "delete", rows, null));
    if (rows.length < PURGE_BATCH) break;
  }
  return total;
}

/** Audit records older than the retention at `at` (ms). */
export async function purgeRecords(db: Db, env: Cloudflare.Env, at: number): Promise<number> {
  const days = auditRetentionDays(env);
  if (days === null) return 0;
  const cutoff = stamp(at - days * 86_400_000);
  let total = 0;
  for (let n = 0; n < MAX_BATCHES; n++) {
    const { meta } = await db
      .prepare(
        `DELETE FROM member_events WHERE id IN (
           SELECT id FROM member_events WHERE at < ?1 ORDER BY at LIMIT ?2)`,
      )
      .bind(cutoff, RETENTION_BATCH)
      .run();
    total += meta.changes;
    if (meta.changes < RETENTION_BATCH) break;
  }
  return total;
}

/** The Worker's `scheduled` handler; the clock is the controller's scheduledTime. */
export async function scheduled(
  controller: ScheduledController,
  env: Cloudflare.Env,
  ctx: ExecutionContext,
): Promise<PurgeReport> {
  const db = guard(env.DB);
  const at = controller.scheduledTime;
  const expired = await purgeExpired(db, env, at, (p) => ctx.waitUntil(p));
  const records = await purgeRecords(db, env, at);
  log.info("purge", { cron: controller.cron, expired, records });
  return { expired, records };
}
